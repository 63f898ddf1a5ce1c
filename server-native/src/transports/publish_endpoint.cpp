#include "transports/publish_endpoint.hpp"

#include <strings.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "pushwire/protocol/frames.hpp"
#include "transports/channel_request.hpp"

namespace pushwire::server {

using protocol::Error;
using protocol::ErrorCode;

namespace {

std::string answerOf(const std::string& channel, const protocol::Result<MessagePtr>& message) {
    if (!message) {
        std::string error = protocol::errorBody(message.error().code, message.error().message);
        return "{\"channel\":\"" + channel + "\"," + error.substr(1);
    }
    // "repeated": the idempotency key was seen: nothing new was stored, this is the first's seq.
    return "{\"channel\":\"" + channel + "\",\"seq\":" + std::to_string(message.value()->seq) +
           ",\"time\":" + std::to_string(message.value()->timeMs) +
           (message.value()->repeated ? ",\"repeated\":true}" : "}");
}

std::string rateLimitedMessage(const RateLimiter& limiter, std::int64_t retryAfterMs) {
    return "more than " + std::to_string(static_cast<long long>(limiter.rate())) +
           " publishes a second (--publish-rate); retry after " + std::to_string(retryAfterMs) + " ms";
}

}  // namespace

bool PublishEndpoint::isBatch(std::string_view contentType) {
    const std::size_t end = std::min(contentType.find(';'), contentType.size());
    std::string_view type = contentType.substr(0, end);
    while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
    while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.remove_prefix(1);
    for (std::string_view batch : {std::string_view("application/x-ndjson"), std::string_view("application/ndjson")}) {
        if (type.size() == batch.size() && strncasecmp(type.data(), batch.data(), type.size()) == 0) return true;
    }
    return false;
}

void PublishEndpoint::handle(HttpRequest& request, const HttpConnectionPtr& connection) {
    if (request.method != "POST") {
        ++context_.metrics.errors;
        connection->respondError(ErrorCode::MethodNotAllowed,
                                 "expected POST with {\"channel\": ..., \"data\": ...}, got " + request.method);
        return;
    }
    auto caller = identifyOrAnswer(context_, request, *connection);
    if (!caller) {
        ++context_.metrics.publishRejected;
        return;
    }
    if (isBatch(request.header("Content-Type"))) {
        publishLines(request, connection, *caller);
    } else {
        publishJson(request, connection, *caller);
    }
}

void PublishEndpoint::publishJson(HttpRequest& request, const HttpConnectionPtr& connection, const Caller& caller) {
    Metrics& metrics = context_.metrics;
    auto parsed = protocol::decodePublishRequest(request.body);
    if (!parsed) {
        ++metrics.errors;
        ++metrics.publishRejected;
        connection->respondError(parsed.error().code, parsed.error().message);
        return;
    }
    const Settings& settings = context_.settings;
    if (parsed->dataJson.size() > settings.maxMessageBytes) {
        ++metrics.publishRejected;
        connection->respondError(ErrorCode::TooLarge, "data is " + std::to_string(parsed->dataJson.size()) +
                                                          " bytes; at most " +
                                                          std::to_string(settings.maxMessageBytes));
        return;
    }
    if (parsed->channels.size() > settings.maxChannelsPerRequest) {
        ++metrics.publishRejected;
        connection->respondError(ErrorCode::BadRequest, std::to_string(parsed->channels.size()) +
                                                            " channels in one publish; at most " +
                                                            std::to_string(settings.maxChannelsPerRequest));
        return;
    }
    const bool several = !parsed->channels.empty();
    if (!several) parsed->channels.push_back(parsed->channel);
    // Every channel is checked before anything is published: the request goes out whole
    // or not at all.
    for (const std::string& channel : parsed->channels) {
        if (auto refusal = context_.access.checkPublish(caller, channel)) {
            ++metrics.publishRejected;
            metrics.refused(refusal->code);
            connection->respondError(refusal->code, refusal->message);
            return;
        }
    }
    if (auto key = publishRateKey(caller, request.peer)) {
        std::int64_t retryAfterMs = 0;
        for (std::size_t i = 0; i < parsed->channels.size(); ++i) {
            if (context_.publishRate.take(*key, context_.nowMs(), &retryAfterMs)) continue;
            ++metrics.publishRejected;
            metrics.hit(Limit::PublishRate);
            const auto seconds = std::max<std::int64_t>(1, (retryAfterMs + 999) / 1000);
            connection->respond(
                429, "application/json",
                protocol::errorBody(ErrorCode::RateLimited, rateLimitedMessage(context_.publishRate, retryAfterMs)),
                "Retry-After: " + std::to_string(seconds) + "\r\n");
            return;
        }
    }
    if (several) {
        toChannels(std::move(parsed->channels), std::move(parsed->dataJson), std::move(parsed->idempotencyKey),
                   connection);
        return;
    }
    // The answer may come later (a remote broker): the request stays parked until then.
    connection->hold(std::make_unique<ParkedRequest>(), std::chrono::milliseconds(0));
    context_.hub.publish(parsed->channel, std::move(parsed->dataJson), parsed->idempotencyKey,
                         [this, connection](protocol::Result<MessagePtr> message) {
                             if (!message) {
                                 ++context_.metrics.publishRejected;
                                 connection->respondError(message.error().code, message.error().message);
                                 return;
                             }
                             if (!(*message)->repeated) ++context_.metrics.published;
                             connection->respondJson(answerOf((*message)->channel, message));
                         });
}

// {"channels":[...],"data":...}: one message on each, answered once all are in:
// {"results":[{"channel":"a","seq":3,"time":...},{"channel":"b","error":{...}}]}.
void PublishEndpoint::toChannels(std::vector<std::string> channels, std::string dataJson, std::string idempotencyKey,
                                 const HttpConnectionPtr& connection) {
    connection->hold(std::make_unique<ParkedRequest>(), std::chrono::milliseconds(0));
    struct Results {
        std::vector<std::string> answers;
        std::size_t left;
    };
    auto results = std::make_shared<Results>(Results{std::vector<std::string>(channels.size()), channels.size()});
    for (std::size_t i = 0; i < channels.size(); ++i) {
        context_.hub.publish(
            channels[i], dataJson, idempotencyKey,
            [this, connection, results, i, channel = channels[i]](protocol::Result<MessagePtr> message) {
                if (!message) {
                    ++context_.metrics.publishRejected;
                } else if (!(*message)->repeated) {
                    ++context_.metrics.published;
                }
                results->answers[i] = answerOf(channel, message);
                if (--results->left > 0) return;
                std::string body = "{\"results\":[";
                for (std::size_t k = 0; k < results->answers.size(); ++k) {
                    if (k) body += ',';
                    body += results->answers[k];
                }
                connection->respondJson(body + "]}");
            });
    }
}

// NDJSON: each line its own publish, in order, at most kInFlight waiting for the broker at
// once; answered when every line has its answer, one line each, in the same order.
void PublishEndpoint::publishLines(HttpRequest& request, const HttpConnectionPtr& connection, const Caller& caller) {
    constexpr std::size_t kInFlight = 256;
    struct Line {
        std::string channel;
        std::string dataJson;
        std::string idempotencyKey;
    };
    struct Batch {
        std::vector<std::string> answers;
        std::vector<std::optional<Line>> lines;  // nullopt: answered already (refused)
        std::size_t next = 0;
        std::size_t inFlight = 0;
        std::size_t left = 0;
        bool pumping = false;
        bool answered = false;
        std::function<void()> pump;  // holds the batch weakly: no cycle
    };
    auto batch = std::make_shared<Batch>();
    const std::string& body = request.body;
    const auto rateKey = publishRateKey(caller, request.peer);
    Metrics& metrics = context_.metrics;
    const std::int64_t now = context_.nowMs();
    std::size_t start = 0;
    while (start < body.size()) {
        std::size_t end = body.find('\n', start);
        if (end == std::string::npos) end = body.size();
        std::string_view text(body.data() + start, end - start);
        if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
        start = end + 1;
        const std::size_t number = batch->lines.size() + 1;
        auto refuse = [&](const std::string& channel, ErrorCode code, const std::string& message) {
            ++metrics.publishRejected;
            std::string error = protocol::errorBody(code, "line " + std::to_string(number) + ": " + message);
            batch->answers.push_back(channel.empty() ? error : "{\"channel\":\"" + channel + "\"," + error.substr(1));
            batch->lines.emplace_back();
        };
        auto parsed = protocol::decodePublishLine(text);
        if (!parsed) {
            ++metrics.errors;
            refuse("", parsed.error().code, text.empty() ? "an empty line" : parsed.error().message);
            continue;
        }
        if (parsed->dataJson.size() > context_.settings.maxMessageBytes) {
            refuse(parsed->channel, ErrorCode::TooLarge,
                   "data is " + std::to_string(parsed->dataJson.size()) + " bytes; at most " +
                       std::to_string(context_.settings.maxMessageBytes));
            continue;
        }
        if (auto refusal = context_.access.checkPublish(caller, parsed->channel)) {
            metrics.refused(refusal->code);
            refuse(parsed->channel, refusal->code, refusal->message);
            continue;
        }
        std::int64_t retryAfterMs = 0;
        if (rateKey && !context_.publishRate.take(*rateKey, now, &retryAfterMs)) {
            metrics.hit(Limit::PublishRate);
            refuse(parsed->channel, ErrorCode::RateLimited, rateLimitedMessage(context_.publishRate, retryAfterMs));
            continue;
        }
        batch->answers.emplace_back();
        batch->lines.push_back(
            Line{std::move(parsed->channel), std::move(parsed->dataJson), std::move(parsed->idempotencyKey)});
        ++batch->left;
    }
    std::string().swap(request.body);  // the lines hold what they need
    auto respond = [connection](Batch& done) {
        std::size_t size = 0;
        for (const std::string& answer : done.answers) size += answer.size() + 1;
        std::string out;
        out.reserve(size);
        for (const std::string& answer : done.answers) {
            out += answer;
            out += '\n';
        }
        connection->respond(200, "application/x-ndjson", std::move(out));
    };
    if (batch->left == 0) {
        respond(*batch);
        return;
    }
    connection->hold(std::make_unique<ParkedRequest>(), std::chrono::milliseconds(0));
    // Iterative: the memory broker answers inside publish(), and a batch of 100,000 lines
    // must not recurse 100,000 deep.
    std::weak_ptr<Batch> weak = batch;
    batch->pump = [this, weak, respond] {
        auto self = weak.lock();
        if (!self || self->pumping) return;
        self->pumping = true;
        while (self->next < self->lines.size() && self->inFlight < kInFlight) {
            const std::size_t index = self->next++;
            if (!self->lines[index]) continue;
            Line line = std::move(*self->lines[index]);
            self->lines[index].reset();
            ++self->inFlight;
            context_.hub.publish(line.channel, std::move(line.dataJson), line.idempotencyKey,
                                 [this, self, index, channel = line.channel](protocol::Result<MessagePtr> message) {
                                     if (!message) {
                                         ++context_.metrics.publishRejected;
                                     } else if (!(*message)->repeated) {
                                         ++context_.metrics.published;
                                     }
                                     self->answers[index] = answerOf(channel, message);
                                     --self->inFlight;
                                     --self->left;
                                     if (!self->pumping) self->pump();
                                 });
        }
        self->pumping = false;
        if (self->left == 0 && !self->answered) {
            self->answered = true;
            respond(*self);
        }
    };
    batch->pump();
}

}  // namespace pushwire::server
