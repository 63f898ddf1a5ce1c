// Server-Sent Events: one close-delimited text/event-stream per request. Every event
// that moves the stream's position carries `id: <cursor>`, so a plain EventSource that
// reconnects with Last-Event-ID resumes every channel of the stream exactly after it.
#include "pushwire/protocol/sse.hpp"

#include <chrono>
#include <map>

#include "pushwire/protocol/cursor.hpp"
#include "transports/channel_request.hpp"
#include "transports/feed.hpp"
#include "transports/http_transports.hpp"

namespace pushwire::server {

using protocol::appendSseEvent;

namespace {
// Messages are unnamed events (onmessage); join and leave entries are named ones.
std::string eventName(const MessagePtr& message) {
    return message->event == protocol::EntryEvent::Message ? std::string()
                                                           : std::string(protocol::entryEventName(message->event));
}
}  // namespace

class SseStream final : public Attachment, public FeedSink, public ControlledSession {
public:
    SseStream(SseTransport& transport, HttpConnection& connection)
        : transport_(transport), context_(transport.context()), connection_(connection), feed_(context_, *this) {
        transport_.add(this);
        context_.metrics.opened(TransportKind::Sse);
    }
    ~SseStream() override { detach(); }

    // Subscribes before the head goes: what the feed writes meanwhile waits in `early_`.
    // Then the welcome, the refusals, the backlog and live messages, paced by the reader.
    void start(SubscribeRequest subscribe) {
        client_ = subscribe.client.id;
        if (context_.presence) {
            feed_.setMember(memberOf(subscribe.caller, client_), context_.presence->settings().grace);
        }
        markKey_ = subscribe.client.fromSession ? client_ : std::string();
        caller_ = std::move(subscribe.caller);
        context_.sessions.add(caller_.user(), this);
        refused_ = std::move(subscribe.allowed.refused);
        if (!refused_.empty()) feed_.nameChannels();
        feed_.add(std::move(subscribe.allowed.starts));
    }
    // No channel could be subscribed (the server holds its maximum of channels): the
    // request is answered with the refusals instead of a stream.
    bool nothingSubscribed() const { return feed_.size() == 0 && !refused_.empty(); }
    const std::vector<protocol::Refusal>& refusals() const { return refused_; }
    // The head is out: what waited follows it.
    std::string begin() {
        begun_ = true;
        return std::move(early_);
    }

    // FeedSink
    bool hasRoom() const override { return queued() < context_.settings.feedRoomBytes; }
    bool overfull() const override { return queued() > context_.settings.feedOverfullBytes; }
    void waitForRoom() override { connection_.notifyWhenDrained(); }
    void feedRefused(int, const std::string& channel, const protocol::Error& error) override {
        ++context_.metrics.errors;
        refused_.push_back(protocol::Refusal{channel, error});
        feed_.nameChannels();  // the feed no longer has the request's channels
    }
    void feedReady(int batch) override {
        if (auto it = serverBatches_.find(batch); it != serverBatches_.end()) {
            // A subscription the backend made (subscribeByServer).
            write(protocol::sseEvent("subscribed", feed_.cursor(),
                                     "{\"channels\":[\"" + it->second + "\"],\"server\":true}"));
            serverBatches_.erase(it);
            return;
        }
        // The welcome carries the stream's starting position.
        write(protocol::sseEvent("welcome", feed_.cursor(),
                                 "{\"epoch\":\"" + context_.hub.epoch() +
                                     "\",\"heartbeat_ms\":" + std::to_string(context_.settings.heartbeat.count()) +
                                     ",\"client\":\"" + client_ + "\"}"));
        // Channels of the request this caller may not read: one error event each (with
        // no id: they do not move the position); the stream goes on with the others.
        for (const protocol::Refusal& refusal : refused_) {
            std::string body = protocol::errorBody(refusal.error.code, refusal.error.message);
            body.insert(1, "\"channel\":\"" + refusal.channel + "\",");
            write(protocol::sseEvent("error", "", body));
        }
    }
    void feedGap(const protocol::Gap& gap) override {
        write(protocol::sseEvent("gap", feed_.cursor(), protocol::encodeGap(gap)));
    }
    void feedMessage(const MessagePtr& message) override {
        context_.metrics.sent(message->event);
        if (feed_.size() == 1 && begun_) {
            // The common case: the event depends on the message alone, so it is built once
            // and shared by every single-channel stream of this fan-out.
            auto frame = transport_.singleChannelEvent(message);
            connection_.write(frame->data(), frame->size(), frame);
        } else {
            write(protocol::sseEvent(eventName(message), feed_.cursor(), message->envelope));
        }
        context_.metrics.delivered(TransportKind::Sse);
    }
    void feedFailed(const protocol::Error& error) override {
        ++context_.metrics.errors;
        write(protocol::sseEvent("error", "", protocol::errorBody(error.code, error.message)));
        if (begun_) connection_.finish();  // the client reconnects with Last-Event-ID
        failed_ = true;
    }
    bool failed() const { return failed_; }

    void heartbeat(const std::shared_ptr<const std::string>& frame) {
        if (begun_) connection_.write(frame->data(), frame->size(), frame);
    }

    void onDrained() override { feed_.pump(); }
    void onClose() override { detach(); }
    // The token's exp: an EventSource reconnects on its own, with the same URL (and the
    // same old token), so the page must close it and open one with a new token; the
    // SDK does that on this event.
    void onExpired() override {
        ++context_.metrics.expired;
        feedFailed(protocol::Error{protocol::ErrorCode::TokenExpired,
                                   "the token expired; reconnect with a new one (Last-Event-ID resumes the stream)"});
    }

    // ControlledSession: the backend's server API.
    void disconnectByServer(bool reconnect) override {
        if (ended_) return;
        if (!reconnect) {
            // A plain EventSource would come back on its own: its next request within the
            // mark is answered 409, which ends it for good.
            auto& mark = context_.sessions.poller(caller_.user(), markKey_, context_.nowMs());
            mark.disconnectedUntilMs = context_.nowMs() + SessionRegistry::kDisconnectedMs;
            mark.reconnect = false;
        }
        write(protocol::sseEvent("disconnect", "", reconnect ? "{\"reconnect\":true}" : "{\"reconnect\":false}"));
        end();
    }
    void revokeByServer() override {
        if (ended_) return;
        ++context_.metrics.errors;
        context_.metrics.refused(protocol::ErrorCode::TokenRevoked);
        write(protocol::sseEvent(
            "error", "",
            protocol::errorBody(protocol::ErrorCode::TokenRevoked, "the token was revoked; get a new one")));
        end();
    }
    const std::string& clientId() const override { return client_; }
    std::int64_t tokenIssuedAt() const override { return caller_.issuedAt; }
    bool unsubscribeByServer(const std::string& channel) override {
        if (ended_ || !feed_.has(channel)) return false;
        feed_.nameChannels();
        feed_.remove({channel});
        write(protocol::sseEvent("unsubscribed", "", "{\"channels\":[\"" + channel + "\"],\"server\":true}"));
        return true;
    }
    bool subscribeByServer(const std::string& channel) override {
        if (ended_ || feed_.has(channel) || feed_.size() + 1 > context_.settings.maxChannelsPerConnection) return false;
        feed_.nameChannels();
        serverBatches_[feed_.nextBatch()] = channel;
        feed_.add({FeedStart{channel, std::nullopt}});
        return true;
    }

private:
    // The stream ends here (what is written goes first); nothing more is fed.
    void end() {
        ended_ = true;
        feed_.stop();
        if (begun_) {
            connection_.finish();
        } else {
            failed_ = true;  // handle() finishes it once the head is out
        }
    }

    void write(std::string event) {
        if (begun_) {
            connection_.write(std::move(event));
        } else {
            early_ += event;
        }
    }
    std::size_t queued() const { return connection_.queuedBytes() + early_.size(); }

    void detach() {
        if (detached_) return;
        detached_ = true;
        feed_.stop();
        context_.sessions.remove(caller_.user(), this);
        transport_.remove(this);
        context_.metrics.closed(TransportKind::Sse);
    }

    SseTransport& transport_;
    Context& context_;
    HttpConnection& connection_;
    Feed feed_;
    Caller caller_;
    std::string markKey_;                       // its client id when it has a session ("" without)
    std::map<int, std::string> serverBatches_;  // feed batches the backend subscribed
    bool ended_ = false;
    std::vector<protocol::Refusal> refused_;
    std::string client_;
    std::string early_;  // written before the head went
    bool begun_ = false;
    bool failed_ = false;
    bool detached_ = false;
};

SseTransport::SseTransport(Context& context)
    : context_(context), heartbeat_(context.io, context.settings.heartbeat, [this](std::int64_t now) { beat(now); }) {}

SseTransport::~SseTransport() { heartbeat_.stop(); }

// A named event, not a comment: proxies see traffic and so does the page's EventSource,
// which lets a client notice a dead link.
void SseTransport::beat(std::int64_t nowMs) {
    if (streams_.empty()) return;
    auto frame =
        std::make_shared<const std::string>(protocol::sseEvent("ping", "", "{\"time\":" + std::to_string(nowMs) + "}"));
    std::vector<SseStream*> streams(streams_.begin(), streams_.end());
    for (SseStream* stream : streams) {
        if (streams_.count(stream)) stream->heartbeat(frame);
    }
}

std::shared_ptr<const std::string> SseTransport::singleChannelEvent(const MessagePtr& message) {
    if (lastMessage_ != message) {
        std::string id;
        protocol::appendSingleCursor(id, message->epoch, message->channel, message->seq);
        lastMessage_ = message;
        lastEvent_ = std::make_shared<const std::string>(protocol::sseEvent(eventName(message), id, message->envelope));
    }
    return lastEvent_;
}

namespace {
// Every channel of the request forbidden (403): an EventSource cannot read a 403 (it
// fails without saying why, and a raw one would not say which channel), so the refusals
// go in a short event stream as they do when some channels are allowed: the welcome, one
// `error` event naming each channel, then the end, with a `retry:` of an hour so that an
// EventSource left open does not ask again and again.
constexpr int kRefusedRetryMs = 3600 * 1000;

std::string refusedStream(const Context& context, const SubscribeRequest& subscribe) {
    std::string body = protocol::sseRetry(kRefusedRetryMs);
    body += protocol::sseEvent("welcome", "",
                               "{\"epoch\":\"" + context.hub.epoch() +
                                   "\",\"heartbeat_ms\":" + std::to_string(context.settings.heartbeat.count()) +
                                   ",\"client\":\"" + subscribe.client.id + "\"}");
    for (const protocol::Refusal& refusal : subscribe.allowed.refused) {
        std::string error = protocol::errorBody(refusal.error.code, refusal.error.message);
        error.insert(1, "\"channel\":\"" + refusal.channel + "\",");
        body += protocol::sseEvent("error", "", error);
    }
    return body;
}

// A stream that ends as it begins: nothing to feed.
class EndedStream final : public Attachment {
public:
    void onClose() override {}
};
}  // namespace

void SseTransport::handle(HttpRequest& request, const HttpConnectionPtr& connection) {
    if (rejectRequest(context_, TransportKind::Sse, request, connection)) return;
    auto subscribe = readSubscribeOrAnswer(context_, request, *connection, true, true);
    if (!subscribe) return;
    const std::string markKey = subscribe->client.fromSession ? subscribe->client.id : std::string();
    if (answeredDisconnected(context_, subscribe->caller, markKey, *connection)) return;
    std::string head = statusLine(200) +
                       "Content-Type: text/event-stream; charset=utf-8\r\n"
                       "Cache-Control: no-cache, no-transform\r\n"
                       "X-Accel-Buffering: no\r\n" +
                       connection->corsHeaders() + "Connection: close\r\n\r\n";
    if (subscribe->allowed.starts.empty()) {
        connection->beginStream(head + refusedStream(context_, *subscribe), std::make_unique<EndedStream>());
        connection->finish();
        return;
    }
    head += protocol::sseRetry(2000);
    auto stream = std::make_unique<SseStream>(*this, *connection);
    SseStream* raw = stream.get();
    const std::int64_t expiresAtMs = subscribe->caller.expiresAtMs;
    raw->start(std::move(*subscribe));
    if (raw->nothingSubscribed()) {
        answerRefusals(*connection, raw->refusals());
        return;
    }
    if (expiresAtMs > 0) {
        connection->expireAt(HttpConnection::Clock::now() + std::chrono::milliseconds(expiresAtMs - context_.nowMs()));
    }
    const bool failed = raw->failed();
    head += raw->begin();
    connection->beginStream(std::move(head), std::move(stream));
    if (failed) connection->finish();
}

}  // namespace pushwire::server
