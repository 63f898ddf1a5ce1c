#include "front/websocket_link.hpp"

#include <websocketpp/http/request.hpp>
#include <websocketpp/http/response.hpp>

#include "front/http_connection.hpp"
#include "front/log.hpp"
#include "pushwire/protocol/errors.hpp"

namespace pushwire::server {

std::shared_ptr<const std::string> frameWebSocketText(const std::string& text) {
    thread_local WebSocketFraming framer;
    return std::make_shared<const std::string>(framer.text(text));
}

WebSocketLink::WebSocketLink(HttpConnection& connection, std::size_t maxMessageBytes,
                             std::chrono::milliseconds idleLimit)
    : connection_(connection), reader_(maxMessageBytes), idleLimit_(idleLimit) {}

std::optional<std::string> WebSocketLink::handshake(websocketpp::http::parser::request& request) {
    WebSocketFraming::Processor& processor = reader_.framing().processor();
    websocketpp::http::parser::response response;
    std::error_code ec = processor.validate_handshake(request);
    if (!ec) ec = processor.process_handshake(request, "", response);
    if (ec) {
        handshakeError_ = ec.message();
        return std::nullopt;
    }
    response.set_version("HTTP/1.1");
    response.set_status(websocketpp::http::status_code::switching_protocols);
    return response.raw();
}

void WebSocketLink::read(const char* data, std::size_t size, WebSocketHandler* handler) {
    if (closing_) return;
    connection_.armDeadline(idleLimit_);  // the peer is alive
    auto failure = reader_.read(data, size, [this, handler](FrameReader::Frame& frame) {
        using Kind = FrameReader::Frame::Kind;
        switch (frame.kind) {
            case Kind::Text:
                if (handler) handler->onText(frame.payload);
                break;
            case Kind::Binary:
                if (handler) handler->onBinary();
                break;
            case Kind::Ping: connection_.write(reader_.framing().pong(frame.payload)); break;
            case Kind::Pong: break;  // only proves the peer alive, which the read did
            case Kind::Close:
                close(frame.closeCode == kCloseNoStatus ? protocol::kCloseNormal : frame.closeCode, "");
                break;
        }
        return !closing_ && !connection_.closing();
    });
    if (failure) close(failure->closeCode, failure->reason);
}

bool WebSocketLink::sendFrame(const std::shared_ptr<const std::string>& frame) {
    if (closing_) return false;
    return connection_.write(frame->data(), frame->size(), frame);
}

bool WebSocketLink::sendText(const std::string& text) {
    if (closing_) return false;
    return connection_.write(reader_.framing().text(text));
}

void WebSocketLink::sendPing() {
    if (!closing_) connection_.write(reader_.framing().ping());
}

void WebSocketLink::close(int code, const std::string& reason) {
    if (closing_) return;
    closing_ = true;
    if (code != protocol::kCloseNormal && code != protocol::kCloseGoingAway) {
        log::write(log::Level::Info, "ws_closed",
                   {log::num("code", code), {"reason", reason}, {"peer", connection_.peer()}}, true);
    }
    // A close reason is at most 123 bytes; a cut one ends before its last, maybe partial,
    // character.
    std::string shortReason = reason;
    if (shortReason.size() > 123) {
        shortReason.resize(123);
        while (!shortReason.empty() && (static_cast<unsigned char>(shortReason.back()) & 0xc0) == 0x80) {
            shortReason.pop_back();
        }
        if (!shortReason.empty() && static_cast<unsigned char>(shortReason.back()) >= 0x80) shortReason.pop_back();
    }
    connection_.write(reader_.framing().close(code, shortReason));
    connection_.flushNow();
    connection_.finish();
}

void WebSocketLink::closeDead() {
    if (closing_) return;
    closing_ = true;
    connection_.write(reader_.framing().close(protocol::kCloseGoingAway, "no pong: connection considered dead"));
    connection_.flushNow();
}

std::size_t WebSocketLink::queuedBytes() const { return connection_.queuedBytes(); }

void WebSocketLink::notifyWhenDrained() { connection_.notifyWhenDrained(); }

}  // namespace pushwire::server
