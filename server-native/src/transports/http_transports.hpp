// The three HTTP transports. Each translates between an HTTP request and a Feed:
//  - poll:     answers at once with what follows the client's position;
//  - longpoll: parks the request until something follows it, or a timeout;
//  - sse:      a text/event-stream of id:/data: events, resumable with Last-Event-ID.
// Handlers run on the loop thread; what they park is owned by the connection.
#pragma once

#include <memory>
#include <unordered_set>

#include "front/http_connection.hpp"
#include "transports/context.hpp"
#include "transports/heartbeat.hpp"

namespace pushwire::server {

void handlePoll(Context& context, HttpRequest& request, const HttpConnectionPtr& connection);
void handleLongPoll(Context& context, HttpRequest& request, const HttpConnectionPtr& connection);

class SseStream;

// Owns the heartbeat of every open event stream.
class SseTransport {
public:
    explicit SseTransport(Context& context);
    ~SseTransport();
    void handle(HttpRequest& request, const HttpConnectionPtr& connection);
    void add(SseStream* stream) { streams_.insert(stream); }
    void remove(SseStream* stream) { streams_.erase(stream); }
    Context& context() { return context_; }
    // The event for `message` on a stream of its channel alone (id: epoch~channel@seq):
    // the same bytes for every such stream, so one fan-out builds it once. The cache of
    // this encoding lives here, with the transport that encodes it, not in the hub.
    std::shared_ptr<const std::string> singleChannelEvent(const MessagePtr& message);

private:
    void beat(std::int64_t nowMs);
    Context& context_;
    std::unordered_set<SseStream*> streams_;
    Heartbeat heartbeat_;
    MessagePtr lastMessage_;
    std::shared_ptr<const std::string> lastEvent_;
};

// True (after answering 405/404) when the request may not go on.
bool rejectRequest(Context& context, TransportKind kind, const HttpRequest& request,
                   const HttpConnectionPtr& connection);

}  // namespace pushwire::server
