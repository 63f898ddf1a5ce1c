// WebSocket: Emscripten's WebSocket API. Subscribing, unsubscribing and publishing go
// in-band as JSON frames; each subscribe carries the core's cursor for its channels.
#include <emscripten/websocket.h>

#include "core/transport.hpp"
#include "pushwire/protocol/frames.hpp"
#include "transports/live_handles.hpp"
#include "transports/registry.hpp"

namespace pushwire::client {
namespace {

class WebSocketTransport;
LiveHandles<WebSocketTransport>& liveSockets() {
    static LiveHandles<WebSocketTransport> sockets;
    return sockets;
}

WebSocketTransport* lookup(void* userData) {
    return liveSockets().find(static_cast<int>(reinterpret_cast<intptr_t>(userData)));
}

class WebSocketTransport final : public Transport {
public:
    using Transport::Transport;
    ~WebSocketTransport() override { close(); }

    void open() override {
        EmscriptenWebSocketCreateAttributes attributes;
        emscripten_websocket_init_create_attributes(&attributes);
        attributes.url = config_.websocketUrl.c_str();
        attributes.protocols = nullptr;
        attributes.createOnMainThread = EM_TRUE;
        socket_ = emscripten_websocket_new(&attributes);
        if (socket_ <= 0) {
            socket_ = 0;
            fail("cannot create a WebSocket to " + config_.websocketUrl);
            return;
        }
        handle_ = liveSockets().add(this);
        void* user = reinterpret_cast<void*>(static_cast<intptr_t>(handle_));
        emscripten_websocket_set_onmessage_callback(socket_, user, onMessage);
        emscripten_websocket_set_onclose_callback(socket_, user, onClose);
        emscripten_websocket_set_onerror_callback(socket_, user, onError);
    }

    void channelsChanged(const std::vector<std::string>& added, const std::vector<std::string>& removed) override {
        if (!welcomed_ || closed_) return;
        if (!removed.empty()) send(protocol::encodeUnsubscribeFrame(removed));
        if (!added.empty()) send(protocol::encodeSubscribeFrame(added, listener_.resumeCursor(added), ""));
    }

    bool send(const std::string& frame) override {
        if (!welcomed_ || closed_ || !socket_) return false;
        if (opening_) {
            heldWhileOpening_.push_back(frame);
            return true;
        }
        return emscripten_websocket_send_utf8_text(socket_, frame.c_str()) == EMSCRIPTEN_RESULT_SUCCESS;
    }

    void close() override {
        if (closed_) return;
        closed_ = true;
        release();
    }

private:
    static EM_BOOL onMessage(int, const EmscriptenWebSocketMessageEvent* event, void* user) {
        if (WebSocketTransport* self = lookup(user)) {
            if (!event->isText) return EM_TRUE;
            std::size_t size = event->numBytes > 0 ? event->numBytes - 1 : 0;  // text ends with NUL
            self->frame(std::string(reinterpret_cast<const char*>(event->data), size));
        }
        return EM_TRUE;
    }
    static EM_BOOL onClose(int, const EmscriptenWebSocketCloseEvent* event, void* user) {
        if (WebSocketTransport* self = lookup(user)) {
            // 4001: the token is not (or no longer) good; 4003: refused credentials.
            const protocol::ErrorCode code = event->code == protocol::kCloseTokenExpired
                                                 ? protocol::ErrorCode::TokenExpired
                                             : event->code == protocol::kCloseForbidden ? protocol::ErrorCode::Forbidden
                                                                                        : protocol::ErrorCode::Internal;
            self->fail("closed with code " + std::to_string(event->code) +
                           (event->reason[0] ? std::string(": ") + event->reason : std::string()),
                       code);
        }
        return EM_TRUE;
    }
    static EM_BOOL onError(int, const EmscriptenWebSocketErrorEvent*, void* user) {
        if (WebSocketTransport* self = lookup(user)) self->fail("the WebSocket failed (refused or unreachable)");
        return EM_TRUE;
    }

    void frame(const std::string& text) {
        const int generation = generation_;
        listener_.transportActivity(generation);
        auto decoded = protocol::decodeServerFrame(text);
        if (!decoded) return;
        protocol::ServerFrame& f = *decoded;
        switch (f.type) {
            case protocol::ServerFrameType::Welcome: {
                welcomed_ = true;
                // Opened first: when this is a background upgrade, the core switches to us
                // here, so the cursor read just below is final and nothing is lost or doubled.
                // Frames sent meanwhile (a publish from a "connected" callback) wait until
                // the subscribe has gone, so they cannot overtake it.
                opening_ = true;
                listener_.transportOpened(generation);
                opening_ = false;
                if (closed_) return;
                // The token first, in a frame (not in the URL, which servers log): the
                // subscribe after it is checked against its rights.
                if (std::string token = config_.currentToken(); !token.empty()) {
                    send(protocol::encodeAuthFrame(token, ""));
                }
                std::vector<std::string> channels = listener_.channels();
                if (!channels.empty()) {
                    send(protocol::encodeSubscribeFrame(channels, listener_.resumeCursor(channels), ""));
                }
                for (const std::string& held : heldWhileOpening_) send(held);
                heldWhileOpening_.clear();
                break;
            }
            case protocol::ServerFrameType::Subscribed:
                listener_.transportCursor(generation, f.cursor, f.channels);
                break;
            case protocol::ServerFrameType::Message: listener_.transportMessage(generation, f.message); break;
            case protocol::ServerFrameType::Gap: listener_.transportGap(generation, f.gap); break;
            case protocol::ServerFrameType::Ack: listener_.transportAck(generation, f.idJson, f.seq); break;
            case protocol::ServerFrameType::Error:
                listener_.transportRequestError(generation, f.idJson, f.error, f.channel);
                break;
            default: break;
        }
    }

    void fail(const std::string& reason, protocol::ErrorCode code = protocol::ErrorCode::Internal) {
        if (closed_) return;
        closed_ = true;
        release();
        listener_.transportClosed(generation_, {code, reason});
    }

    void release() {
        if (handle_) liveSockets().remove(handle_);
        handle_ = 0;
        if (socket_) {
            emscripten_websocket_close(socket_, 1000, "");
            emscripten_websocket_delete(socket_);
            socket_ = 0;
        }
    }

    EMSCRIPTEN_WEBSOCKET_T socket_ = 0;
    int handle_ = 0;
    bool welcomed_ = false;
    bool opening_ = false;
    std::vector<std::string> heldWhileOpening_;
    bool closed_ = false;
};

}  // namespace

std::unique_ptr<Transport> createWebSocketTransport(TransportListener& l, Platform& p, TransportConfig c, int g) {
    return std::make_unique<WebSocketTransport>(l, p, std::move(c), g);
}

}  // namespace pushwire::client
