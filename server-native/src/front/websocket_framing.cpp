#include "front/websocket_framing.hpp"

#include <websocketpp/close.hpp>

#include "front/http_server.hpp"
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

// ---------------------------------------------------------------- HttpConnection

std::shared_ptr<const std::string> frameWebSocketText(const std::string& text) {
    thread_local WebSocketFraming framer;
    return std::make_shared<const std::string>(framer.text(text));
}

bool HttpConnection::acceptWebSocket(std::unique_ptr<WebSocketHandler> handler, std::size_t maxMessageBytes,
                                     std::chrono::milliseconds idleLimit) {
    if (state_ != State::Dispatching || !upgradeRequest_) return false;
    auto framing = std::make_unique<WebSocketFraming>(maxMessageBytes);
    websocketpp::http::parser::request& request = *upgradeRequest_;
    std::error_code ec = framing->processor().validate_handshake(request);
    websocketpp::http::parser::response response;
    if (!ec) ec = framing->processor().process_handshake(request, "", response);
    upgradeRequest_.reset();
    if (ec) {
        keepAlive_ = false;
        respondError(protocol::ErrorCode::BadRequest, "invalid WebSocket handshake: " + ec.message());
        return false;
    }
    response.set_version("HTTP/1.1");
    response.set_status(websocketpp::http::status_code::switching_protocols);
    framing_ = std::move(framing);
    state_ = State::WebSocket;
    keepAlive_ = false;
    webSocketIdleLimit_ = idleLimit;
    armTimer(idleLimit);
    attachment_ = std::move(handler);
    write(response.raw());
    flushNow();
    // Frames that came with the handshake.
    if (!inbox_.empty()) {
        std::string early;
        early.swap(inbox_);
        readWebSocket(early.data(), early.size());
    }
    return true;
}

void HttpConnection::readWebSocket(const char* data, std::size_t size) {
    armTimer(webSocketIdleLimit_);  // the peer is alive
    auto* bytes = reinterpret_cast<uint8_t*>(const_cast<char*>(data));
    WebSocketFraming::Processor& processor = framing_->processor();
    while (size > 0 && !closing_ && state_ == State::WebSocket) {
        std::error_code ec;
        std::size_t used = processor.consume(bytes, size, ec);
        if (ec) {
            // Oversized frames close with 1009, bad UTF-8 with 1007, the rest with 1002.
            closeWebSocket(websocketpp::processor::error::to_ws(ec), ec.message());
            return;
        }
        bytes += used;
        size -= used;
        if (!processor.ready()) continue;
        WebSocketFraming::MessagePtr message = processor.get_message();
        if (!message) continue;
        auto* handler = static_cast<WebSocketHandler*>(attachment_.get());
        switch (message->get_opcode()) {
            case websocketpp::frame::opcode::text:
                if (handler) handler->onText(message->get_payload());
                break;
            case websocketpp::frame::opcode::binary:
                if (handler) handler->onBinary();
                break;
            case websocketpp::frame::opcode::ping: write(framing_->pong(message->get_payload())); break;
            case websocketpp::frame::opcode::close: {
                std::error_code closeError;
                auto code = websocketpp::close::extract_code(message->get_payload(), closeError);
                closeWebSocket(closeError || code == websocketpp::close::status::no_status ? protocol::kCloseNormal
                                                                                           : static_cast<int>(code),
                               "");
                return;
            }
            default:  // pong: only proves the peer is alive, which the read itself did
                break;
        }
    }
}

bool HttpConnection::sendFrame(const std::shared_ptr<const std::string>& frame) {
    if (state_ != State::WebSocket) return false;
    return write(asio::const_buffer(frame->data(), frame->size()), frame);
}

bool HttpConnection::sendText(const std::string& text) {
    if (state_ != State::WebSocket) return false;
    return write(framing_->text(text));
}

void HttpConnection::sendPing() {
    if (state_ == State::WebSocket) write(framing_->ping());
}

void HttpConnection::closeWebSocket(int code, const std::string& reason) {
    if (state_ != State::WebSocket || closing_) return;
    write(framing_->close(code, reason));
    state_ = State::Done;
    closeAfterWrite_ = true;
    flushNow();
}

}  // namespace pushwire::server
