#include "transports/websocket.hpp"

#include <map>

#include "pushwire/protocol/cursor.hpp"
#include "pushwire/protocol/frames.hpp"
#include "transports/channel_request.hpp"
#include "transports/feed.hpp"

namespace pushwire::server {

using protocol::ErrorCode;

class WsSession final : public WebSocketHandler, public FeedSink {
public:
    explicit WsSession(WebSocketTransport& transport)
        : transport_(transport), context_(transport.context()), feed_(context_, *this) {
        transport_.add(this);
        context_.metrics.opened(TransportKind::WebSocket);
    }
    ~WsSession() override { detach(); }

    // After the handshake: welcome, then the subscription the URL asked for, if any.
    void start(WebSocketLink& link, const HttpRequest& request) {
        link_ = &link;
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
        if (detached_ || !link_) return;
        std::string id;
        auto frame = protocol::decodeClientFrame(text, &id);
        if (!frame) {
            sendError(id, frame.error().code, frame.error().message);
            return;
        }
        switch (frame->type) {
            case protocol::ClientFrameType::Subscribe: subscribe(frame->channels, frame->since, frame->idJson); break;
            case protocol::ClientFrameType::Unsubscribe:
                feed_.remove(frame->channels);
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

    // FeedSink
    bool hasRoom() const override { return link_->queuedBytes() < context_.settings.feedRoomBytes; }
    bool overfull() const override { return link_->queuedBytes() > context_.settings.feedOverfullBytes; }
    void waitForRoom() override { link_->notifyWhenDrained(); }
    void feedReady(int batch) override {
        auto it = pending_.find(batch);
        if (it == pending_.end()) return;
        send(protocol::encodeSubscribedFrame(it->second.idJson, it->second.channels,
                                             feed_.cursorOf(it->second.channels)));
        pending_.erase(it);
    }
    void feedGap(const protocol::Gap& gap) override { send(protocol::encodeGapFrame(gap)); }
    void feedMessage(const MessagePtr& message) override {
        // False when the connection is closing: the client resumes with its cursor.
        if (link_->sendFrame(transport_.messageFrame(message))) context_.metrics.delivered(TransportKind::WebSocket);
    }
    void feedFailed(const protocol::Error& error) override {
        sendError("", error.code, error.message);
        if (link_) link_->close(protocol::kCloseOverloaded, "the broker is unavailable; resume later");
    }

    void heartbeat(const std::shared_ptr<const std::string>& frame) {
        if (!link_) return;
        link_->sendFrame(frame);
        link_->sendPing();  // browsers answer it: a vanished client is found by its silence
    }

    void shutdown() {
        if (link_) link_->close(protocol::kCloseGoingAway, "server shutting down");
    }

    void onDrained() override { feed_.pump(); }
    void onClose() override { detach(); }

private:
    struct PendingSubscribe {
        std::string idJson;
        std::vector<std::string> channels;
    };

    void send(const std::string& text) {
        if (link_) link_->sendText(text);
    }

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
        if (channels.size() > context_.settings.maxChannelsPerRequest) {
            sendError(idJson, ErrorCode::BadRequest,
                      std::to_string(channels.size()) + " channels in one subscribe; at most " +
                          std::to_string(context_.settings.maxChannelsPerRequest));
            return;
        }
        std::size_t added = 0;
        for (const std::string& channel : channels) added += feed_.has(channel) ? 0 : 1;
        if (feed_.size() + added > 4 * context_.settings.maxChannelsPerRequest) {
            sendError(idJson, ErrorCode::BadRequest,
                      "too many channels on one connection; at most " +
                          std::to_string(4 * context_.settings.maxChannelsPerRequest));
            return;
        }
        auto starts = feedStarts(channels, cursor ? &*cursor : nullptr);
        if (!starts) {
            sendError(idJson, starts.error().code, "since: " + starts.error().message);
            return;
        }
        // The subscribed frame goes when every position is known (feedReady), which may
        // be during add().
        pending_[feed_.nextBatch()] = PendingSubscribe{idJson, channels};
        feed_.add(std::move(*starts));
    }

    void publish(const protocol::ClientFrame& frame) {
        if (frame.dataJson.size() > context_.settings.maxMessageBytes) {
            ++context_.metrics.publishRejected;
            sendError(frame.idJson, ErrorCode::TooLarge,
                      "data is " + std::to_string(frame.dataJson.size()) + " bytes; at most " +
                          std::to_string(context_.settings.maxMessageBytes));
            return;
        }
        auto alive = alive_;
        std::string idJson = frame.idJson;
        std::string channel = frame.channel;
        context_.hub.publish(frame.channel, frame.dataJson,
                             [this, alive, idJson, channel](protocol::Result<MessagePtr> published) {
                                 if (!*alive) return;
                                 if (!published) {
                                     ++context_.metrics.publishRejected;
                                     sendError(idJson, published.error().code, published.error().message);
                                     return;
                                 }
                                 ++context_.metrics.published;
                                 send(protocol::encodeAckFrame(idJson, channel, (*published)->seq));
                             });
    }

    void detach() {
        if (detached_) return;
        detached_ = true;
        *alive_ = false;
        feed_.stop();
        transport_.remove(this);
        context_.metrics.closed(TransportKind::WebSocket);
    }

    WebSocketTransport& transport_;
    Context& context_;
    WebSocketLink* link_ = nullptr;
    Feed feed_;
    std::map<int, PendingSubscribe> pending_;
    bool detached_ = false;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
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
    auto session = std::make_unique<WsSession>(*this);
    WsSession* raw = session.get();
    // A whole message may be as large as the data limit plus the frame's own fields.
    const std::size_t maxFrame = context_.settings.maxMessageBytes + 4096;
    if (WebSocketLink* link = connection->acceptWebSocket(
            std::move(session), maxFrame, 2 * context_.settings.heartbeat + std::chrono::milliseconds(2000))) {
        raw->start(*link, request);
    }
}

std::shared_ptr<const std::string> WebSocketTransport::messageFrame(const MessagePtr& message) {
    if (lastMessage_ != message) {
        lastMessage_ = message;
        lastFrame_ = frameWebSocketText(protocol::encodeMessageFrame(message->envelope));
    }
    return lastFrame_;
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
