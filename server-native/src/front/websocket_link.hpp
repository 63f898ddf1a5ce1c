// The WebSocket half of a connection, from the handshake on: reads the peer's frames
// (FrameReader) and hands them to the session, answers pings and close frames, and sends
// the session's frames through the connection's write path.
//
// Threading: the loop thread. Lifetime: owned by its HttpConnection; the session (the
// connection's attachment) is told onClose() before either goes.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "front/frame_reader.hpp"

namespace websocketpp::http::parser {
class request;
}

namespace pushwire::server {

class HttpConnection;
class WebSocketHandler;

class WebSocketLink {
public:
    WebSocketLink(HttpConnection& connection, std::size_t maxMessageBytes, std::chrono::milliseconds idleLimit);

    // The 101 answer to `request`, or nullopt (handshakeError() says why).
    std::optional<std::string> handshake(websocketpp::http::parser::request& request);
    const std::string& handshakeError() const { return handshakeError_; }

    // Bytes from the peer. Each message goes to `handler`; a read proves the peer alive.
    void read(const char* data, std::size_t size, WebSocketHandler* handler);

    // A text frame; `frame` from frameWebSocketText may be shared by many connections.
    bool sendFrame(const std::shared_ptr<const std::string>& frame);
    bool sendText(const std::string& text);
    void sendPing();
    // Sends a close frame, then closes once it is written (and the peer had a moment to
    // answer). Nothing is read or sent afterwards.
    void close(int code, const std::string& reason);
    // The peer stopped answering: a last close frame, for a link that may yet carry it.
    void closeDead();
    bool closing() const { return closing_; }

    std::size_t queuedBytes() const;
    // The session's onDrained() once what is queued is mostly written.
    void notifyWhenDrained();

private:
    HttpConnection& connection_;
    FrameReader reader_;
    std::chrono::milliseconds idleLimit_;
    std::string handshakeError_;
    bool closing_ = false;
};

// A complete WebSocket text frame (unmasked, as servers send), built once and shared by
// every connection of a fan-out.
std::shared_ptr<const std::string> frameWebSocketText(const std::string& text);

}  // namespace pushwire::server
