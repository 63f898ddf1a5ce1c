// WebSocket: the browser's WebSocket, driven through glue.js (a few lines instead of
// Emscripten's websocket library). Subscribing, unsubscribing and publishing go in-band
// as JSON frames; each subscribe carries the core's cursor for its channels.
#include <emscripten.h>

#include <optional>

#include "core/transport.hpp"
#include "core/wire.hpp"
#include "pushwire/protocol/frames.hpp"
#include "transports/live_handles.hpp"
#include "transports/registry.hpp"

EM_JS(void, pw_ws_open, (int handle, const char* url), { pwWsOpen(handle, UTF8ToString(url)); });
EM_JS(int, pw_ws_send, (int handle, const char* text), { return pwWsSend(handle, UTF8ToString(text)); });
EM_JS(void, pw_ws_close, (int handle), { pwWsClose(handle); });

namespace pushwire::client {
namespace {

class WebSocketTransport;
LiveHandles<WebSocketTransport>& liveSockets() {
    static LiveHandles<WebSocketTransport> sockets;
    return sockets;
}

// Event kinds passed to pw_ws_event (glue.js).
enum SocketEvent { kFrame = 1, kClosed = 2, kFailed = 3 };

class WebSocketTransport final : public Transport {
public:
    using Transport::Transport;
    ~WebSocketTransport() override { close(); }

    void open() override {
        handle_ = liveSockets().add(this);
        std::string url = config_.websocketUrl;
        if (!config_.session.empty()) {
            url += (url.find('?') == std::string::npos ? "?session=" : "&session=") + config_.session;
        }
        pw_ws_open(handle_, url.c_str());
    }

    void channelsChanged(const std::vector<std::string>& added, const std::vector<std::string>& removed) override {
        if (!welcomed_ || authorizing_ || closed_) return;  // accepted() subscribes them all
        if (!removed.empty()) send(protocol::encodeUnsubscribeFrame(removed));
        if (!added.empty()) send(protocol::encodeSubscribeFrame(added, listener_.resumeCursor(added), ""));
    }

    bool send(const std::string& frame) override {
        if (!welcomed_ || closed_ || !handle_) return false;
        if (opening_) {
            heldWhileOpening_.push_back(frame);
            return true;
        }
        return pw_ws_send(handle_, frame.c_str()) != 0;
    }

    void close() override {
        if (closed_) return;
        closed_ = true;
        release();
    }

    void event(int kind, int code, const char* text) {
        switch (kind) {
            case kFrame: frame(text ? text : ""); break;
            case kClosed: {
                forget();  // the glue has forgotten the socket
                // The backend's disconnect: 4006 come back and resume, 4005 stay away.
                if (code == protocol::kCloseDisconnected || code == protocol::kCloseDisconnectedReconnect) {
                    closed_ = true;
                    listener_.transportDisconnected(generation_, code == protocol::kCloseDisconnectedReconnect);
                    break;
                }
                // The error frame before a 4001 said why, in the server's words.
                if (code == protocol::kCloseTokenExpired && refusal_) {
                    fail(refusal_->message, refusal_->code);
                    break;
                }
                // 4001: the token is not (or no longer) good; 4003: refused credentials.
                const protocol::ErrorCode error = code == protocol::kCloseTokenExpired
                                                      ? protocol::ErrorCode::TokenExpired
                                                  : code == protocol::kCloseForbidden ? protocol::ErrorCode::Forbidden
                                                                                      : protocol::ErrorCode::Internal;
                fail("closed with code " + std::to_string(code) +
                         (text && text[0] ? std::string(": ") + text : std::string()),
                     error);
                break;
            }
            default:
                forget();
                fail("the WebSocket failed (refused or unreachable)");
                break;
        }
    }

private:
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
                // The token first, in a frame (not in the URL, which servers log). The
                // connection counts as open once the server accepted it: at its
                // `authorized` answer (a refused token closes with 4001 instead).
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

    // The server accepted the connection: opened, then the subscribe (checked against the
    // token's rights).
    void accepted() {
        const int generation = generation_;
        // Opened first: when this is a background upgrade, the core switches to us here,
        // so the cursor read just below is final and nothing is lost or doubled. Frames
        // sent meanwhile (a publish from a "connected" callback) wait until the subscribe
        // has gone, so they cannot overtake it.
        opening_ = true;
        listener_.transportOpened(generation);
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
        if (handle_) pw_ws_close(handle_);
        forget();
    }
    void forget() {
        if (handle_) liveSockets().remove(handle_);
        handle_ = 0;
    }

    int handle_ = 0;
    bool welcomed_ = false;
    bool authorizing_ = false;                // the token sent, the server's answer not yet in
    std::optional<protocol::Error> refusal_;  // the last error frame of the connection's own
    bool opening_ = false;
    std::vector<std::string> heldWhileOpening_;
    bool closed_ = false;
};

}  // namespace

std::unique_ptr<Transport> createWebSocketTransport(TransportListener& l, Platform& p, TransportConfig c, int g) {
    return std::make_unique<WebSocketTransport>(l, p, std::move(c), g);
}

}  // namespace pushwire::client

extern "C" EMSCRIPTEN_KEEPALIVE void pw_ws_event(int handle, int kind, int code, const char* text) {
    if (auto* socket = pushwire::client::liveSockets().find(handle)) socket->event(kind, code, text);
}
