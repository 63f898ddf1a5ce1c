// Short polling: one request, one answer, nothing held.
#include "transports/channel_request.hpp"
#include "transports/http_transports.hpp"

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

void handlePoll(Context& context, HttpRequest& request, const HttpConnectionPtr& connection) {
    if (rejectRequest(context, TransportKind::Poll, request, connection)) return;
    auto parsed = readChannelRequestOrAnswer(context, request, *connection, false);
    if (!parsed) return;
    auto points = resolveOrAnswer(context, *parsed, *connection);
    if (!points) return;
    answerBatch(context, TransportKind::Poll,
                collectBatch(context.hub, *points, context.settings.maxBatch, context.settings.maxBatchBytes), *points,
                *connection);
}

}  // namespace pushwire::server
