// Reads the frames a WebSocket client sends. websocketpp's RFC 6455 processor unmasks,
// checks UTF-8 and the control-frame rules; in front of it, pushwire's own check of every
// frame header, because the processor's size check cannot be trusted: it adds a
// continuation's declared length to what the message holds, and a length near 2^64 wraps
// the sum to a small number, after which it buffers whatever the peer sends. Here the
// sum is checked without overflow, at the header, before a byte of that frame's payload
// reaches the processor. The check also refuses non-minimal length encodings and 64-bit
// lengths with the top bit set (RFC 6455 5.2: 1002), which the processor answers with
// 1011, and close frames with a malformed payload or an invalid code (1002/1007).
//
// Pure: no sockets; driven by the WebSocket connection and by the fuzz target.
// Threading: one instance per connection, on the loop thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "front/websocket_framing.hpp"

namespace pushwire::server {

// The close code a Close frame without one is reported with (RFC 6455 7.1.5: never sent).
constexpr int kCloseNoStatus = 1005;

// Tracks frame boundaries in the byte stream and checks each header as it completes.
class FrameGuard {
public:
    struct Violation {
        int closeCode;
        std::string reason;
    };
    explicit FrameGuard(std::uint64_t maxMessageBytes) : maxMessageBytes_(maxMessageBytes) {}

    // How many of `size` bytes may go on to the processor: all of them, or the bytes
    // before the header that broke a rule (violation() then says which).
    std::size_t scan(const std::uint8_t* data, std::size_t size);
    const std::optional<Violation>& violation() const { return violation_; }

private:
    std::optional<Violation> checkHeader();

    std::uint64_t maxMessageBytes_;
    std::uint8_t header_[14]{};
    std::size_t have_ = 0;           // header bytes collected
    std::uint64_t payloadLeft_ = 0;  // payload bytes of the current frame still to come
    std::uint64_t messageBytes_ = 0;
    std::optional<Violation> violation_;
};

class FrameReader {
public:
    struct Frame {
        enum class Kind { Text, Binary, Ping, Pong, Close };
        Kind kind = Kind::Text;
        std::string payload;    // text, binary, ping and pong payloads
        int closeCode = 0;      // Close: the code the peer sent (1005 when none)
        std::string closeText;  // Close: the peer's reason
    };
    using Failure = FrameGuard::Violation;

    explicit FrameReader(std::size_t maxMessageBytes);

    // Feeds bytes; calls `onFrame` for each complete message and control frame until it
    // returns false. Returns the failure that ends the connection, if any; after one,
    // read() reads nothing more.
    std::optional<Failure> read(const char* data, std::size_t size, const std::function<bool(Frame&)>& onFrame);

    WebSocketFraming& framing() { return framing_; }

private:
    WebSocketFraming framing_;
    FrameGuard guard_;
    bool failed_ = false;
};

}  // namespace pushwire::server
