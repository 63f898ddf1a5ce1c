// WebSocket outside the browser: websocketpp's client on the platform's io_context. What
// is said on the socket is the browser transport's (client-wasm/src/transports/
// websocket_transport.cpp): welcome, the token in an auth frame, then the subscribe with
// the core's cursor; publishes go in-band.
#include <optional>
#include <type_traits>
#include <utility>

#include "core/transport.hpp"
#include "core/wire.hpp"
#include "native_platform.hpp"
#include "native_transports.hpp"
#include "pushwire/protocol/frames.hpp"
#include "websocket_endpoint.hpp"

namespace pushwire::client {
namespace {

// Endpoint: WebSocketEndpoint (ws://) or TlsWebSocketEndpoint (wss://).
template <class Endpoint>
class NativeWebSocketTransport final : public Transport {
    using Wspp = std::remove_reference_t<decltype(std::declval<Endpoint&>().client())>;

public:
    NativeWebSocketTransport(TransportListener& l, NativePlatform& p, TransportConfig c, int g, Endpoint& endpoint)
        : Transport(l, p, std::move(c), g), native_(p), endpoint_(endpoint) {}
    ~NativeWebSocketTransport() override { close(); }

    void open() override {
        std::string url = config_.websocketUrl;
        if (!config_.session.empty()) {
            url += (url.find('?') == std::string::npos ? "?session=" : "&session=") + config_.session;
        }
        Wspp& client = endpoint_.client();
        std::error_code ec;
        connection_ = endpoint_.connection(url, ec);
        if (ec) {
            std::weak_ptr<bool> alive = alive_;
            const std::string reason = "bad WebSocket URL " + url + ": " + ec.message();
            native_.post([this, alive, reason] {
                if (!alive.expired()) fail(reason);
            });
            return;
        }
        std::weak_ptr<bool> alive = alive_;
        connection_->set_message_handler([this, alive](websocketpp::connection_hdl, typename Wspp::message_ptr msg) {
            if (alive.expired() || closed_) return;
            frame(msg->get_payload());
        });
        connection_->set_close_handler([this, alive](websocketpp::connection_hdl) {
            if (alive.expired() || closed_) return;
            closedByPeer();
        });
        connection_->set_fail_handler([this, alive](websocketpp::connection_hdl) {
            if (alive.expired() || closed_) return;
            const int status = connection_->get_response_code();
            fail(status ? "the WebSocket upgrade was refused (HTTP " + std::to_string(status) + ")"
                        : "the WebSocket failed (refused or unreachable)");
        });
        client.connect(connection_);
    }

    void channelsChanged(const std::vector<std::string>& added, const std::vector<std::string>& removed) override {
        if (!welcomed_ || authorizing_ || closed_) return;  // accepted() subscribes them all
        if (!removed.empty()) send(protocol::encodeUnsubscribeFrame(removed));
        if (!added.empty()) send(protocol::encodeSubscribeFrame(added, listener_.resumeCursor(added), ""));
    }

    bool send(const std::string& frame) override {
        if (!welcomed_ || closed_ || !connection_) return false;
        if (opening_) {
            heldWhileOpening_.push_back(frame);
            return true;
        }
        return !connection_->send(frame, websocketpp::frame::opcode::text);
    }

    void close() override {
        if (closed_) return;
        closed_ = true;
        release();
    }

private:
    void closedByPeer() {
        int code = connection_->get_remote_close_code();
        const std::string text = connection_->get_remote_close_reason();
        connection_.reset();
        // The backend's disconnect: 4006 come back and resume, 4005 stay away.
        if (code == protocol::kCloseDisconnected || code == protocol::kCloseDisconnectedReconnect) {
            closed_ = true;
            listener_.transportDisconnected(generation_, code == protocol::kCloseDisconnectedReconnect);
            return;
        }
        if (code == protocol::kCloseTokenExpired && refusal_) {
            fail(refusal_->message, refusal_->code);
            return;
        }
        const protocol::ErrorCode error = code == protocol::kCloseTokenExpired ? protocol::ErrorCode::TokenExpired
                                          : code == protocol::kCloseForbidden  ? protocol::ErrorCode::Forbidden
                                                                               : protocol::ErrorCode::Internal;
        fail("closed with code " + std::to_string(code) + (text.empty() ? std::string() : ": " + text), error);
    }

    void frame(std::string_view text) {
        const int generation = generation_;
        listener_.transportActivity(generation);
        auto decoded = wire::serverFrame(text);
        if (!decoded) return;
        protocol::ServerFrame& f = *decoded;
        switch (f.type) {
            case protocol::ServerFrameType::Welcome: {
                welcomed_ = true;
                if (!f.clientId.empty()) listener_.transportClientId(generation, f.clientId);
                if (std::string token = config_.currentToken(); !token.empty()) {
                    authorizing_ = true;
                    send(protocol::encodeAuthFrame(token, ""));
                } else {
                    accepted();
                }
                break;
            }
            case protocol::ServerFrameType::Authorized:
                if (authorizing_) {
                    authorizing_ = false;
                    accepted();
                }
                break;
            case protocol::ServerFrameType::Subscribed:
                if (f.byServer) listener_.transportServerSubscribed(generation, f.channels);
                listener_.transportCursor(generation, f.cursor, f.channels);
                break;
            case protocol::ServerFrameType::Unsubscribed:
                if (f.byServer) listener_.transportServerUnsubscribed(generation, f.channels);
                break;
            case protocol::ServerFrameType::Message:
            case protocol::ServerFrameType::Join:
            case protocol::ServerFrameType::Leave: listener_.transportMessage(generation, f.message); break;
            case protocol::ServerFrameType::Presence:
            case protocol::ServerFrameType::PresenceStats:
                listener_.transportPresence(generation, f.idJson, f.presence);
                break;
            case protocol::ServerFrameType::Gap: listener_.transportGap(generation, f.gap); break;
            case protocol::ServerFrameType::Ack: listener_.transportAck(generation, f.idJson, f.seq); break;
            case protocol::ServerFrameType::Error:
                if (f.idJson.empty() && f.channel.empty()) refusal_ = f.error;
                listener_.transportRequestError(generation, f.idJson, f.error, f.channel);
                break;
            default: break;
        }
    }

    void accepted() {
        opening_ = true;
        listener_.transportOpened(generation_);
        opening_ = false;
        if (closed_) return;
        std::vector<std::string> channels = listener_.channels();
        if (!channels.empty()) {
            send(protocol::encodeSubscribeFrame(channels, listener_.resumeCursor(channels), ""));
        }
        for (const std::string& held : heldWhileOpening_) send(held);
        heldWhileOpening_.clear();
    }

    void fail(const std::string& reason, protocol::ErrorCode code = protocol::ErrorCode::Internal) {
        if (closed_) return;
        closed_ = true;
        release();
        listener_.transportClosed(generation_, {code, reason});
    }

    void release() {
        if (!connection_) return;
        std::error_code ec;
        if (connection_->get_state() == websocketpp::session::state::open) {
            connection_->close(websocketpp::close::status::normal, "", ec);
        } else {
            connection_->terminate(ec);
        }
        connection_.reset();
    }

    NativePlatform& native_;
    Endpoint& endpoint_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // handlers check it: this may be gone
    typename Wspp::connection_ptr connection_;
    bool welcomed_ = false;
    bool authorizing_ = false;
    std::optional<protocol::Error> refusal_;
    bool opening_ = false;
    std::vector<std::string> heldWhileOpening_;
    bool closed_ = false;
};

}  // namespace

std::unique_ptr<Transport> createNativeWebSocketTransport(TransportListener& l, Platform& p, TransportConfig c, int g) {
    auto& native = static_cast<NativePlatform&>(p);
    if (c.websocketUrl.compare(0, 6, "wss://") == 0) {
        return std::make_unique<NativeWebSocketTransport<TlsWebSocketEndpoint>>(l, native, std::move(c), g,
                                                                                native.secureWebSocket());
    }
    return std::make_unique<NativeWebSocketTransport<WebSocketEndpoint>>(l, native, std::move(c), g,
                                                                         native.websocket());
}

}  // namespace pushwire::client
