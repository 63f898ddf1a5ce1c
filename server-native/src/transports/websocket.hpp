// The WebSocket transport: websocketpp's asio server on the shared loop, speaking the
// JSON frames of protocol/frames.hpp. Messages are framed once per fan-out (a prepared
// websocketpp message shared by every connection), never once per subscriber.
//
// Threading: the loop thread only (websocketpp built with concurrency::none).
#pragma once

#include <memory>
#include <string>
#include <unordered_set>

#include "transports/context.hpp"

namespace pushwire::server {

class WsSession;

class WebSocketTransport {
public:
    explicit WebSocketTransport(Context& context);
    ~WebSocketTransport();

    // Binds and listens on host:port (0 = any free port). Throws std::exception on failure.
    void listen(const std::string& host, unsigned short port);
    unsigned short port() const;
    void stop();
    std::size_t sessionCount() const;

    struct Impl;  // websocketpp lives only in websocket.cpp

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace pushwire::server
