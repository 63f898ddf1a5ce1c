#include "transports/channel_request.hpp"

#include <algorithm>
#include <unordered_set>

#include "front/http_connection.hpp"
#include "pushwire/protocol/channel_name.hpp"

namespace pushwire::server {

using protocol::Error;
using protocol::ErrorCode;

protocol::Result<ChannelRequest> readChannelRequest(const HttpRequest& request, const Settings& settings,
                                                    bool lastEventId) {
    ChannelRequest out;
    // Linear, and it stops at the first name past the limit: a request naming thousands
    // of channels costs no more than one naming the most allowed. Repeats are found by a
    // look through the few names so far (most requests name one), by a set past kFew.
    constexpr std::size_t kFew = 8;
    std::unordered_set<std::string> seen;
    std::optional<Error> problem;
    auto add = [&](std::string_view name) {
        if (problem) return;
        if (auto bad = protocol::channelNameProblem(name)) {
            problem = Error{ErrorCode::BadChannel, *bad};
            return;
        }
        if (out.channels.size() < kFew) {
            if (std::find(out.channels.begin(), out.channels.end(), name) != out.channels.end()) return;
        } else {
            if (seen.empty()) seen.insert(out.channels.begin(), out.channels.end());
            if (!seen.emplace(name).second) return;
        }
        if (out.channels.size() + 1 > settings.maxChannelsPerRequest) {
            problem = Error{ErrorCode::BadRequest, "more than " + std::to_string(settings.maxChannelsPerRequest) +
                                                       " channels requested; at most " +
                                                       std::to_string(settings.maxChannelsPerRequest) + " per request"};
            return;
        }
        out.channels.emplace_back(name);
    };
    for (const auto& [key, value] : request.query) {
        if (key == "channel") {
            add(value);
        } else if (key == "channels") {
            std::string_view list = value;
            std::size_t start = 0;
            while (start <= list.size() && !problem) {
                std::size_t comma = list.find(',', start);
                if (comma == std::string_view::npos) comma = list.size();
                add(list.substr(start, comma - start));
                start = comma + 1;
            }
        }
        if (problem) return *problem;
    }
    if (out.channels.empty()) {
        return Error{ErrorCode::MissingField, "no channel given; expected channel=NAME (repeatable) or channels=A,B"};
    }
    std::string_view position;
    const char* source = "since";
    if (lastEventId) {
        if (std::string_view header = request.header("Last-Event-ID"); !header.empty()) {
            position = header;
            source = "Last-Event-ID";
        } else if (const std::string* param = request.param("last_event_id")) {
            position = *param;
            source = "last_event_id";
        }
    }
    if (position.empty()) {
        if (const std::string* since = request.param("since")) {
            if (since->empty()) return Error{ErrorCode::BadCursor, "since is empty"};
            position = *since;
        }
    }
    if (!position.empty()) {
        auto cursor = protocol::parseCursor(position);
        if (!cursor) {
            return Error{ErrorCode::BadCursor, std::string(source) + ": " + cursor.error().message};
        }
        out.cursor = std::move(cursor.value());
    }
    return out;
}

std::optional<std::vector<FeedStart>> readStartsOrAnswer(Context& context, const HttpRequest& request,
                                                         HttpConnection& connection, bool lastEventId) {
    auto parsed = readChannelRequest(request, context.settings, lastEventId);
    if (!parsed) {
        ++context.metrics.errors;
        connection.respondError(parsed.error().code, parsed.error().message);
        return std::nullopt;
    }
    auto starts = feedStarts(parsed->channels, parsed->cursor ? &*parsed->cursor : nullptr);
    if (!starts) {
        ++context.metrics.errors;
        connection.respondError(starts.error().code, starts.error().message);
        return std::nullopt;
    }
    return std::move(starts.value());
}

std::optional<Caller> identifyOrAnswer(Context& context, const HttpRequest& request, HttpConnection& connection) {
    auto caller = context.access.identify(request, context.nowMs());
    if (!caller) {
        context.metrics.refused(caller.error().code);
        connection.respondError(caller.error().code, caller.error().message);
        return std::nullopt;
    }
    return std::move(caller.value());
}

std::optional<AllowedStarts> allowedOrAnswer(Context& context, const Caller& caller, std::vector<FeedStart> starts,
                                             HttpConnection& connection, bool keepForbidden) {
    AllowedStarts out;
    out.starts.reserve(starts.size());
    for (FeedStart& start : starts) {
        if (auto refusal = context.access.checkSubscribe(caller, start.channel)) {
            context.metrics.refused(refusal->code);
            out.refused.push_back(protocol::Refusal{start.channel, std::move(*refusal)});
        } else {
            out.starts.push_back(std::move(start));
        }
    }
    const bool allForbidden =
        keepForbidden && std::all_of(out.refused.begin(), out.refused.end(), [](const protocol::Refusal& refusal) {
            return protocol::httpStatus(refusal.error.code) == 403;
        });
    if (out.starts.empty() && !allForbidden) {
        answerRefusals(connection, out.refused);
        return std::nullopt;
    }
    return out;
}

void answerRefusals(HttpConnection& connection, const std::vector<protocol::Refusal>& refused) {
    const protocol::Error& first = refused.front().error;
    std::string body = protocol::errorBody(first.code, first.message);
    body.pop_back();
    body += ",\"refused\":[";
    for (std::size_t i = 0; i < refused.size(); ++i) {
        std::string error = protocol::errorBody(refused[i].error.code, refused[i].error.message);
        body += (i ? ",{\"channel\":\"" : "{\"channel\":\"") + refused[i].channel + "\"," + error.substr(1);
    }
    connection.respond(protocol::httpStatus(first.code), "application/json", body + "]}");
}

std::optional<SubscribeRequest> readSubscribeOrAnswer(Context& context, const HttpRequest& request,
                                                      HttpConnection& connection, bool lastEventId,
                                                      bool keepForbidden) {
    auto starts = readStartsOrAnswer(context, request, connection, lastEventId);
    if (!starts) return std::nullopt;
    auto client = clientIdOf(request);
    if (!client) {
        ++context.metrics.errors;
        connection.respondError(client.error().code, client.error().message);
        return std::nullopt;
    }
    auto caller = identifyOrAnswer(context, request, connection);
    if (!caller) return std::nullopt;
    auto allowed = allowedOrAnswer(context, *caller, std::move(*starts), connection, keepForbidden);
    if (!allowed) return std::nullopt;
    return SubscribeRequest{std::move(*caller), std::move(*allowed), std::move(client.value())};
}

protocol::Member memberOf(const Caller& caller, const std::string& client) {
    protocol::Member member;
    member.client = client;
    if (caller.identity) {
        member.user = caller.identity->subject;
        member.infoJson = caller.identity->infoJson;
    }
    return member;
}

std::string disconnectedBody(bool reconnect) {
    std::string body = protocol::errorBody(protocol::ErrorCode::Disconnected,
                                           reconnect ? "disconnected by the server; reconnect and resume"
                                                     : "disconnected by the server; do not reconnect");
    body.insert(body.size() - 2, reconnect ? ",\"reconnect\":true" : ",\"reconnect\":false");
    return body;
}

bool answeredDisconnected(Context& context, const Caller& caller, const std::string& session,
                          HttpConnection& connection) {
    const std::string& user = caller.user();
    if (user.empty()) return false;
    SessionRegistry::Poller* poller = context.sessions.findPoller(user, session);
    const std::int64_t now = context.nowMs();
    if (!poller || poller->disconnectedUntilMs <= now) return false;
    const bool reconnect = poller->reconnect;
    if (reconnect) poller->disconnectedUntilMs = 0;
    ++context.metrics.errors;
    connection.respond(409, "application/json", disconnectedBody(reconnect));
    return true;
}

}  // namespace pushwire::server
