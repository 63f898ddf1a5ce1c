#include "front/frame_reader.hpp"

#include <websocketpp/close.hpp>
#include <websocketpp/utf8_validator.hpp>

#include "pushwire/protocol/errors.hpp"

namespace pushwire::server {

namespace {

constexpr int kCloseProtocolError = 1002;
constexpr int kCloseBadPayload = 1007;

}  // namespace

std::size_t FrameGuard::scan(const std::uint8_t* data, std::size_t size) {
    if (violation_) return 0;
    std::size_t at = 0;
    while (at < size) {
        if (payloadLeft_ > 0) {
            const std::uint64_t skip = std::min<std::uint64_t>(payloadLeft_, size - at);
            payloadLeft_ -= skip;
            at += static_cast<std::size_t>(skip);
            continue;
        }
        header_[have_++] = data[at++];
        if (have_ < 2) continue;
        const std::uint8_t length7 = header_[1] & 0x7f;
        const std::size_t needed = 2 + (length7 == 126 ? 2 : length7 == 127 ? 8 : 0) + ((header_[1] & 0x80) ? 4 : 0);
        if (have_ < needed) continue;
        if (auto violation = checkHeader()) {
            violation_ = std::move(violation);
            return at - 1;  // the processor never sees this header whole
        }
        have_ = 0;
    }
    return size;
}

std::optional<FrameGuard::Violation> FrameGuard::checkHeader() {
    const bool fin = (header_[0] & 0x80) != 0;
    const std::uint8_t opcode = header_[0] & 0x0f;
    const std::uint8_t length7 = header_[1] & 0x7f;
    std::uint64_t length = length7;
    if (length7 == 126) {
        length = (std::uint64_t{header_[2]} << 8) | header_[3];
        if (length < 126) return Violation{kCloseProtocolError, "non-minimal 16-bit payload length"};
    } else if (length7 == 127) {
        length = 0;
        for (int i = 2; i < 10; ++i) length = (length << 8) | header_[i];
        // A length with the top bit set (RFC 6455: must be 0) is above any limit: the
        // size checks below refuse it with 1009.
        if (length <= 0xffff) return Violation{kCloseProtocolError, "non-minimal 64-bit payload length"};
    }
    const bool control = (opcode & 0x08) != 0;
    if (control) {
        if (length > 125) return Violation{kCloseProtocolError, "control frame longer than 125 bytes"};
    } else {
        // A continuation adds to the message; a text or binary frame starts one. The sum
        // is compared without ever being formed past the limit.
        if (opcode == 0) {
            // messageBytes_ never exceeds the limit, so the subtraction cannot wrap.
            if (length > maxMessageBytes_ - messageBytes_) {
                return Violation{protocol::kCloseTooBig,
                                 "message larger than " + std::to_string(maxMessageBytes_) + " bytes"};
            }
            messageBytes_ += length;
        } else {
            if (length > maxMessageBytes_) {
                return Violation{protocol::kCloseTooBig,
                                 "message larger than " + std::to_string(maxMessageBytes_) + " bytes"};
            }
            messageBytes_ = length;
        }
        if (fin) messageBytes_ = 0;
    }
    payloadLeft_ = length;
    return std::nullopt;
}

FrameReader::FrameReader(std::size_t maxMessageBytes) : framing_(maxMessageBytes), guard_(maxMessageBytes) {}

std::optional<FrameReader::Failure> FrameReader::read(const char* data, std::size_t size,
                                                      const std::function<bool(Frame&)>& onFrame) {
    if (failed_) return std::nullopt;
    auto* bytes = reinterpret_cast<std::uint8_t*>(const_cast<char*>(data));
    std::size_t allowed = guard_.scan(bytes, size);
    WebSocketFraming::Processor& processor = framing_.processor();
    while (allowed > 0) {
        std::error_code ec;
        const std::size_t used = processor.consume(bytes, allowed, ec);
        if (ec) {
            failed_ = true;
            // Oversized frames close with 1009, bad UTF-8 with 1007, the rest with 1002.
            int code = websocketpp::processor::error::to_ws(ec);
            if (code != protocol::kCloseTooBig && code != kCloseBadPayload) code = kCloseProtocolError;
            return Failure{code, ec.message()};
        }
        bytes += used;
        allowed -= used;
        if (!processor.ready()) continue;
        WebSocketFraming::MessagePtr message = processor.get_message();
        if (!message) continue;
        Frame frame;
        switch (message->get_opcode()) {
            case websocketpp::frame::opcode::text: frame.kind = Frame::Kind::Text; break;
            case websocketpp::frame::opcode::binary: frame.kind = Frame::Kind::Binary; break;
            case websocketpp::frame::opcode::ping: frame.kind = Frame::Kind::Ping; break;
            case websocketpp::frame::opcode::pong: frame.kind = Frame::Kind::Pong; break;
            case websocketpp::frame::opcode::close: {
                frame.kind = Frame::Kind::Close;
                const std::string& payload = message->get_payload();
                if (payload.empty()) {
                    frame.closeCode = kCloseNoStatus;
                    break;
                }
                if (payload.size() == 1) {
                    failed_ = true;
                    return Failure{kCloseProtocolError, "close frame with a 1-byte payload"};
                }
                const auto code = static_cast<websocketpp::close::status::value>(
                    (static_cast<unsigned>(static_cast<std::uint8_t>(payload[0])) << 8) |
                    static_cast<std::uint8_t>(payload[1]));
                if (websocketpp::close::status::invalid(code) || websocketpp::close::status::reserved(code)) {
                    failed_ = true;
                    return Failure{kCloseProtocolError, "close frame with invalid code " + std::to_string(code)};
                }
                frame.closeText = payload.substr(2);
                if (!websocketpp::utf8_validator::validate(frame.closeText)) {
                    failed_ = true;
                    return Failure{kCloseBadPayload, "close reason is not valid UTF-8"};
                }
                frame.closeCode = code;
                break;
            }
            default: continue;
        }
        if (frame.kind != Frame::Kind::Close) frame.payload = std::move(message->get_raw_payload());
        if (!onFrame(frame)) return std::nullopt;
        if (frame.kind == Frame::Kind::Close) return std::nullopt;
    }
    if (auto& violation = guard_.violation()) {
        failed_ = true;
        return *violation;
    }
    return std::nullopt;
}

}  // namespace pushwire::server
