// The WebSocket transport: sessions on the HTTP front's own connections (handshake and
// frames by websocketpp's RFC 6455 processor), speaking the JSON frames of
// protocol/frames.hpp. Messages are framed once per fan-out and the frame is shared by
// every connection; writes go through the front's batched direct-write path.
//
// Threading: the loop thread only.
#pragma once

#include <memory>
#include <unordered_set>

#include "front/http_connection.hpp"
#include "front/websocket_link.hpp"
#include "transports/context.hpp"
#include "transports/heartbeat.hpp"

namespace pushwire::server {

class WsSession;

class WebSocketTransport {
public:
    explicit WebSocketTransport(Context& context);
    ~WebSocketTransport();

    // GET /pushwire/ws with an upgrade; served on both the HTTP and the WebSocket port.
    void handle(HttpRequest& request, const HttpConnectionPtr& connection);
    void stop();

    void add(WsSession* session) { sessions_.insert(session); }
    void remove(WsSession* session) { sessions_.erase(session); }
    Context& context() { return context_; }
    // The frame of `message`, the same bytes for every session: one fan-out builds it once.
    std::shared_ptr<const std::string> messageFrame(const MessagePtr& message);

private:
    void beat(std::int64_t nowMs);
    Context& context_;
    std::unordered_set<WsSession*> sessions_;
    Heartbeat heartbeat_;
    MessagePtr lastMessage_;  // the last message framed, and its frame
    std::shared_ptr<const std::string> lastFrame_;
};

}  // namespace pushwire::server
