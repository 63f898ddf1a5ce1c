#include "front/websocket_framing.hpp"

#include <websocketpp/close.hpp>

#include "pushwire/protocol/errors.hpp"

namespace pushwire::server {

WebSocketFraming::WebSocketFraming(std::size_t maxMessageBytes)
    : manager_(std::make_shared<FramingConfig::con_msg_manager_type>()), processor_(false, true, manager_, rng_) {
    processor_.set_max_message_size(maxMessageBytes);
}

std::string WebSocketFraming::flatten(const MessagePtr& frame) { return frame->get_header() + frame->get_payload(); }

std::string WebSocketFraming::text(const std::string& payload) {
    MessagePtr in = manager_->get_message(websocketpp::frame::opcode::text, payload.size());
    in->set_payload(payload);
    MessagePtr out = manager_->get_message();
    processor_.prepare_data_frame(in, out);
    return flatten(out);
}

std::string WebSocketFraming::ping() {
    MessagePtr out = manager_->get_message();
    processor_.prepare_ping("", out);
    return flatten(out);
}

std::string WebSocketFraming::pong(const std::string& payload) {
    MessagePtr out = manager_->get_message();
    processor_.prepare_pong(payload, out);
    return flatten(out);
}

std::string WebSocketFraming::close(int code, const std::string& reason) {
    MessagePtr out = manager_->get_message();
    processor_.prepare_close(static_cast<websocketpp::close::status::value>(code), reason, out);
    return flatten(out);
}

}  // namespace pushwire::server
