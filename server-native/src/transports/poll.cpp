// Short polling and long polling: one request, one answer (transports/poll_answer.hpp).
// A poll answers at once with what follows the client's position; a long-poll is parked
// on its connection (no thread) until something follows it, or its timeout.
#include <charconv>

#include "transports/channel_request.hpp"
#include "transports/http_transports.hpp"
#include "transports/poll_answer.hpp"

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

void answerPoll(Context& context, TransportKind kind, std::vector<FeedStart> starts,
                const HttpConnectionPtr& connection, std::chrono::milliseconds timeout) {
    const bool wait = kind == TransportKind::LongPoll && timeout.count() > 0;
    auto answer = std::make_unique<PollAnswer>(context, kind, *connection, wait);
    PollAnswer* raw = answer.get();
    // Parked first: the answer may come at once (a local broker), or later.
    connection->hold(std::move(answer), wait ? timeout : std::chrono::milliseconds(0));
    raw->start(std::move(starts));
}

}  // namespace

void handlePoll(Context& context, HttpRequest& request, const HttpConnectionPtr& connection) {
    if (rejectRequest(context, TransportKind::Poll, request, connection)) return;
    auto starts = readStartsOrAnswer(context, request, *connection, false);
    if (!starts) return;
    answerPoll(context, TransportKind::Poll, std::move(*starts), connection, std::chrono::milliseconds(0));
}

void handleLongPoll(Context& context, HttpRequest& request, const HttpConnectionPtr& connection) {
    if (rejectRequest(context, TransportKind::LongPoll, request, connection)) return;
    auto starts = readStartsOrAnswer(context, request, *connection, false);
    if (!starts) return;
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
    answerPoll(context, TransportKind::LongPoll, std::move(*starts), connection, timeout);
}

}  // namespace pushwire::server
