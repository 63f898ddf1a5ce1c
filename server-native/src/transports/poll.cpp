// Short polling and long polling: one request, one answer (transports/poll_answer.hpp).
// A poll answers at once with what follows the client's position; a long-poll is parked
// on its connection (no thread) until something follows it, or its timeout.
#include <algorithm>
#include <charconv>

#include "transports/channel_request.hpp"
#include "transports/http_transports.hpp"
#include "transports/poll_answer.hpp"
#include "transports/session_registry.hpp"

namespace pushwire::server {

bool rejectRequest(Context& context, TransportKind kind, const HttpRequest& request,
                   const HttpConnectionPtr& connection) {
    if (!context.settings.isEnabled(kind)) {
        ++context.metrics.errors;
        connection->respondError(
            protocol::ErrorCode::TransportDisabled,
            std::string("the ") + transportName(kind) + " transport is disabled on this server (--transports)");
        return true;
    }
    if (request.method != "GET" && request.method != "HEAD") {
        ++context.metrics.errors;
        connection->respondError(protocol::ErrorCode::MethodNotAllowed, "expected GET, got " + request.method);
        return true;
    }
    return false;
}

namespace {

void answerPoll(Context& context, TransportKind kind, SubscribeRequest subscribe, const HttpConnectionPtr& connection,
                std::chrono::milliseconds timeout) {
    // What the backend did to this poll client since its last request (server API). A
    // poller is known by its client id when it has a session (one id over its requests).
    std::vector<std::string> unsubscribed, subscribed;
    const std::string key = subscribe.client.fromSession ? subscribe.client.id : std::string();
    if (const std::string& user = subscribe.caller.user(); !user.empty()) {
        if (answeredDisconnected(context, subscribe.caller, key, *connection)) return;
        SessionRegistry::Poller& poller = context.sessions.poller(user, key, context.nowMs());
        poller.polls = true;
        auto& starts = subscribe.allowed.starts;
        if (!poller.unsubscribed.empty()) {
            starts.erase(std::remove_if(starts.begin(), starts.end(),
                                        [&](const FeedStart& start) {
                                            if (!poller.unsubscribed.count(start.channel)) return false;
                                            unsubscribed.push_back(start.channel);
                                            return true;
                                        }),
                         starts.end());
        }
        for (const std::string& channel : poller.subscribe) {
            const bool asked = std::any_of(starts.begin(), starts.end(),
                                           [&](const FeedStart& start) { return start.channel == channel; });
            if (!asked) starts.push_back(FeedStart{channel, std::nullopt});
            subscribed.push_back(channel);
        }
        poller.subscribe.clear();
        if (starts.empty() && subscribe.allowed.refused.empty()) {
            // Every channel asked for was unsubscribed by the backend.
            std::string body = encodeBatch({}, {}, "", false);
            appendServerChanges(body, unsubscribed, subscribed);
            connection->respondJson(std::move(body));
            return;
        }
    }
    bool wait = kind == TransportKind::LongPoll && timeout.count() > 0;
    // A long-poll does not outlive its token: it answers token_expired at exp.
    if (wait && subscribe.caller.expiresAtMs > 0) {
        const std::int64_t left = subscribe.caller.expiresAtMs - context.nowMs();
        if (left < timeout.count()) timeout = std::chrono::milliseconds(std::max<std::int64_t>(left, 1));
    }
    auto answer = std::make_unique<PollAnswer>(context, kind, *connection, wait);
    PollAnswer* raw = answer.get();
    raw->expiresAt(subscribe.caller.expiresAtMs);
    // Parked first: the answer may come at once (a local broker), or later.
    connection->hold(std::move(answer), wait ? timeout : std::chrono::milliseconds(0));
    // A poller is a member while it polls, if it has a session: one id over its requests.
    std::optional<protocol::Member> member;
    std::chrono::milliseconds linger{0};
    if (context.presence && subscribe.client.fromSession) {
        member = memberOf(subscribe.caller, subscribe.client.id);
        linger = context.presence->settings().pollLinger;
    }
    raw->control(subscribe.caller, std::move(unsubscribed), std::move(subscribed));
    raw->start(std::move(subscribe.allowed.starts), std::move(subscribe.allowed.refused),
               std::move(subscribe.client.id), std::move(member), linger);
}

}  // namespace

void handlePoll(Context& context, HttpRequest& request, const HttpConnectionPtr& connection) {
    if (rejectRequest(context, TransportKind::Poll, request, connection)) return;
    auto subscribe = readSubscribeOrAnswer(context, request, *connection, false);
    if (!subscribe) return;
    answerPoll(context, TransportKind::Poll, std::move(*subscribe), connection, std::chrono::milliseconds(0));
}

void handleLongPoll(Context& context, HttpRequest& request, const HttpConnectionPtr& connection) {
    if (rejectRequest(context, TransportKind::LongPoll, request, connection)) return;
    auto subscribe = readSubscribeOrAnswer(context, request, *connection, false);
    if (!subscribe) return;
    std::chrono::milliseconds timeout = context.settings.longPollTimeout;
    if (const std::string* text = request.param("timeout_ms")) {
        long long value = -1;
        auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
        if (ec != std::errc() || ptr != text->data() + text->size() || value < 0) {
            ++context.metrics.errors;
            connection->respondError(protocol::ErrorCode::BadRequest,
                                     "timeout_ms must be a whole number of milliseconds, got '" + *text + "'");
            return;
        }
        timeout = std::min(std::chrono::milliseconds(value), context.settings.longPollMaxTimeout);
    }
    answerPoll(context, TransportKind::LongPoll, std::move(*subscribe), connection, timeout);
}

}  // namespace pushwire::server
