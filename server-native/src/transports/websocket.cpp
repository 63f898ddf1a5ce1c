#include "transports/websocket.hpp"

#include "pushwire/protocol/cursor.hpp"
#include "pushwire/protocol/frames.hpp"
#include "transports/channel_request.hpp"

namespace pushwire::server {

using protocol::ErrorCode;

class WsSession final : public WebSocketHandler, public Subscriber {
public:
    WsSession(WebSocketTransport& transport, HttpConnection& connection)
        : transport_(transport), context_(transport.context()), connection_(connection) {
        transport_.add(this);
        context_.metrics.opened(TransportKind::WebSocket);
    }
    ~WsSession() override { detach(); }

    // After the handshake: welcome, then the subscription the URL asked for, if any.
    void start(const HttpRequest& request) {
        send(protocol::encodeWelcomeFrame(context_.hub.epoch(), static_cast<int>(context_.settings.heartbeat.count())));
        if (!request.param("channel") && !request.param("channels")) return;
        auto parsed = readChannelRequest(request, context_.settings, false);
        if (!parsed) {  // the handshake is answered already: the error goes in a frame
            sendError("", parsed.error().code, parsed.error().message);
            return;
        }
        const std::string* since = request.param("since");
        subscribe(parsed->channels, since ? std::optional<std::string>(*since) : std::nullopt, "");
    }

    void onText(const std::string& text) override {
        if (detached_) return;
        auto frame = protocol::decodeClientFrame(text);
        if (!frame) {
            sendError("", frame.error().code, frame.error().message);
            return;
        }
        switch (frame->type) {
            case protocol::ClientFrameType::Subscribe: subscribe(frame->channels, frame->since, frame->idJson); break;
            case protocol::ClientFrameType::Unsubscribe:
                unsubscribe(frame->channels);
                send(protocol::encodeUnsubscribedFrame(frame->channels));
                break;
            case protocol::ClientFrameType::Publish: publish(*frame); break;
            case protocol::ClientFrameType::Ping: send(protocol::encodePongFrame()); break;
            case protocol::ClientFrameType::Pong: break;
        }
    }

    void onBinary() override {
        sendError("", ErrorCode::BadRequest, "binary frames are not supported; send JSON text");
    }

    void deliver(const MessagePtr& message) override {
        if (detached_) return;
        for (StartPoint& point : subscriptions_) {
            if (point.channel == message->channel) point.after = message->seq;
        }
        if (!message->wsFrame) {
            message->wsFrame = frameWebSocketText(protocol::encodeMessageFrame(message->envelope));
        }
        // False when the reader fell too far behind: the connection closes and the
        // client resumes with its cursor.
        if (!connection_.sendFrame(message->wsFrame)) return;
        context_.metrics.delivered(TransportKind::WebSocket);
    }

    void heartbeat(const std::shared_ptr<const std::string>& frame) {
        connection_.sendFrame(frame);
        connection_.sendPing();  // browsers answer it: a vanished client is found by its silence
    }

    void shutdown() { connection_.closeWebSocket(protocol::kCloseGoingAway, "server shutting down"); }

    void onClose() override { detach(); }

private:
    void send(const std::string& text) { connection_.sendText(text); }

    void sendError(const std::string& idJson, ErrorCode code, const std::string& message) {
        ++context_.metrics.errors;
        send(protocol::encodeErrorFrame(idJson, code, message));
    }

    void subscribe(const std::vector<std::string>& channels, const std::optional<std::string>& since,
                   const std::string& idJson) {
        std::optional<protocol::Cursor> cursor;
        if (since && !since->empty()) {
            auto parsed = protocol::parseCursor(*since);
            if (!parsed) {
                sendError(idJson, ErrorCode::BadCursor, "since: " + parsed.error().message);
                return;
            }
            cursor = std::move(parsed.value());
        }
        if (subscriptions_.size() + channels.size() > 4 * context_.settings.maxChannelsPerRequest) {
            sendError(idJson, ErrorCode::BadRequest, "too many channels on one connection");
            return;
        }
        unsubscribe(channels);  // a re-subscribe restarts from the new position
        auto points = context_.hub.resolve(channels, cursor ? &*cursor : nullptr);
        send(protocol::encodeSubscribedFrame(idJson, channels, cursorText(context_.hub.epoch(), points)));
        for (;;) {
            Batch batch = collectBatch(context_.hub, points, context_.settings.maxBatch);
            for (const protocol::Gap& gap : batch.gaps) send(protocol::encodeGapFrame(gap));
            for (const MessagePtr& message : batch.messages) deliver(message);
            context_.metrics.gaps += batch.gaps.size();
            if (!batch.more || detached_) break;
        }
        if (detached_) return;
        for (StartPoint& point : points) {
            context_.hub.subscribe(point.channel, this);
            subscriptions_.push_back(std::move(point));
        }
    }

    void unsubscribe(const std::vector<std::string>& channels) {
        for (const std::string& channel : channels) {
            for (auto it = subscriptions_.begin(); it != subscriptions_.end(); ++it) {
                if (it->channel == channel) {
                    context_.hub.unsubscribe(channel, this);
                    subscriptions_.erase(it);
                    break;
                }
            }
        }
    }

    void publish(const protocol::ClientFrame& frame) {
        if (frame.dataJson.size() > context_.settings.maxMessageBytes) {
            ++context_.metrics.publishRejected;
            sendError(frame.idJson, ErrorCode::TooLarge,
                      "data is " + std::to_string(frame.dataJson.size()) + " bytes; at most " +
                          std::to_string(context_.settings.maxMessageBytes));
            return;
        }
        auto published = context_.hub.publish(frame.channel, frame.dataJson);
        if (!published) {
            sendError(frame.idJson, published.error().code, published.error().message);
            return;
        }
        ++context_.metrics.published;
        if (!detached_) send(protocol::encodeAckFrame(frame.idJson, frame.channel, (*published)->seq));
    }

    void detach() {
        if (detached_) return;
        detached_ = true;
        for (const StartPoint& point : subscriptions_) context_.hub.unsubscribe(point.channel, this);
        subscriptions_.clear();
        transport_.remove(this);
        context_.metrics.closed(TransportKind::WebSocket);
    }

    WebSocketTransport& transport_;
    Context& context_;
    HttpConnection& connection_;
    std::vector<StartPoint> subscriptions_;  // channel and last seq sent
    bool detached_ = false;
};

WebSocketTransport::WebSocketTransport(Context& context)
    : context_(context), heartbeat_(context.io, context.settings.heartbeat, [this](std::int64_t now) { beat(now); }) {}

WebSocketTransport::~WebSocketTransport() { heartbeat_.stop(); }

void WebSocketTransport::handle(HttpRequest& request, const HttpConnectionPtr& connection) {
    if (!context_.settings.isEnabled(TransportKind::WebSocket)) {
        ++context_.metrics.errors;
        connection->respondError(ErrorCode::TransportDisabled,
                                 "the websocket transport is disabled on this server (--transports)");
        return;
    }
    if (!connection->wantsWebSocket()) {
        connection->respond(426, "application/json",
                            protocol::errorBody(ErrorCode::BadRequest,
                                                "this endpoint speaks WebSocket: connect with an Upgrade request"),
                            "Upgrade: websocket\r\n");
        return;
    }
    auto session = std::make_unique<WsSession>(*this, *connection);
    WsSession* raw = session.get();
    // A whole message may be as large as the data limit plus the frame's own fields.
    const std::size_t maxFrame = context_.settings.maxMessageBytes + 4096;
    if (connection->acceptWebSocket(std::move(session), maxFrame,
                                    2 * context_.settings.heartbeat + std::chrono::milliseconds(2000))) {
        raw->start(request);
    }
}

void WebSocketTransport::beat(std::int64_t nowMs) {
    if (sessions_.empty()) return;
    auto frame = frameWebSocketText(protocol::encodePingFrame(nowMs));
    std::vector<WsSession*> sessions(sessions_.begin(), sessions_.end());
    for (WsSession* session : sessions) {
        if (sessions_.count(session)) session->heartbeat(frame);
    }
}

void WebSocketTransport::stop() {
    heartbeat_.stop();
    std::vector<WsSession*> sessions(sessions_.begin(), sessions_.end());
    for (WsSession* session : sessions) session->shutdown();
}

}  // namespace pushwire::server
