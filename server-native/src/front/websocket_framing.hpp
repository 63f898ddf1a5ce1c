// WebSocket framing for the HTTP front: websocketpp's RFC 6455 processor (hybi13) used as
// a pure protocol engine: it validates and answers the handshake, parses and unmasks
// incoming frames (checking sizes, UTF-8 and control frames) and builds outgoing
// frames. The bytes move on the front's own connections, with its write path.
//
// Threading: the loop thread. One instance per connection (parser state) and one per
// server (to frame fan-out messages once).
#pragma once

#include <memory>
#include <string>
#include <websocketpp/common/memory.hpp>
#include <websocketpp/extensions/permessage_deflate/disabled.hpp>
#include <websocketpp/http/request.hpp>
#include <websocketpp/http/response.hpp>
#include <websocketpp/message_buffer/alloc.hpp>
#include <websocketpp/message_buffer/message.hpp>
#include <websocketpp/processors/hybi13.hpp>
#include <websocketpp/random/none.hpp>

namespace pushwire::server {

struct FramingConfig {
    typedef websocketpp::http::parser::request request_type;
    typedef websocketpp::http::parser::response response_type;
    typedef websocketpp::message_buffer::message<websocketpp::message_buffer::alloc::con_msg_manager> message_type;
    typedef websocketpp::message_buffer::alloc::con_msg_manager<message_type> con_msg_manager_type;
    typedef websocketpp::random::none::int_generator<uint32_t> rng_type;
    struct permessage_deflate_config {};
    typedef websocketpp::extensions::permessage_deflate::disabled<permessage_deflate_config> permessage_deflate_type;
    static const std::size_t max_message_size = 64 * 1024;
    static const bool enable_extensions = false;
};

class WebSocketFraming {
public:
    using Processor = websocketpp::processor::hybi13<FramingConfig>;
    using MessagePtr = FramingConfig::message_type::ptr;

    explicit WebSocketFraming(std::size_t maxMessageBytes = FramingConfig::max_message_size);

    Processor& processor() { return processor_; }
    // A complete frame (header + payload) for a text message, a pong or a close.
    std::string text(const std::string& payload);
    std::string ping();
    std::string pong(const std::string& payload);
    std::string close(int code, const std::string& reason);

private:
    std::string flatten(const MessagePtr& frame);

    std::shared_ptr<FramingConfig::con_msg_manager_type> manager_;
    FramingConfig::rng_type rng_;
    Processor processor_;
};

}  // namespace pushwire::server
