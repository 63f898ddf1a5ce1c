#include "transports/websocket.hpp"

#include <algorithm>
#include <map>

#include "pushwire/protocol/cursor.hpp"
#include "pushwire/protocol/frames.hpp"
#include "transports/channel_request.hpp"
#include "transports/feed.hpp"
#include "transports/presence_endpoint.hpp"

namespace pushwire::server {

using protocol::ErrorCode;

class WsSession final : public WebSocketHandler, public FeedSink, public ControlledSession {
public:
    explicit WsSession(WebSocketTransport& transport)
        : transport_(transport), context_(transport.context()), feed_(context_, *this) {
        transport_.add(this);
        context_.metrics.opened(TransportKind::WebSocket);
    }
    ~WsSession() override { detach(); }

    // After the handshake: welcome, then the subscription the URL asked for, if any.
    // `caller`: who the upgrade request identified (a token in the query, a cookie or an
    // Authorization header); an `auth` frame may change it later.
    // `client`: the connection's client id (session= or random).
    void start(WebSocketLink& link, HttpConnection& connection, const HttpRequest& request, Caller caller,
               std::string client) {
        link_ = &link;
        connection_ = &connection;
        peer_ = request.peer;
        client_ = std::move(client);
        setCaller(std::move(caller));
        send(protocol::encodeWelcomeFrame(context_.hub.epoch(), static_cast<int>(context_.settings.heartbeat.count()),
                                          client_));
        if (request.param("channel") || request.param("channels")) {
            auto parsed = readChannelRequest(request, context_.settings, false);
            if (parsed) {
                const std::string* since = request.param("since");
                subscribe(parsed->channels, since ? std::optional<std::string>(*since) : std::nullopt, "");
            } else {  // the handshake is answered already: the error goes in a frame
                sendError("", parsed.error().code, parsed.error().message);
            }
        }
        // Frames that came in the same packets as the handshake were read before this
        // session had its link: they are taken now, in order.
        std::vector<std::string> early = std::move(early_);
        early_.clear();
        for (const std::string& text : early) onText(text);
    }

    void onText(const std::string& text) override {
        if (detached_) return;
        if (!link_) {
            early_.push_back(text);  // bounded: the front reads at most 64 KiB with a handshake
            return;
        }
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
            case protocol::ClientFrameType::Auth: authenticate(frame->token, frame->idJson); break;
            case protocol::ClientFrameType::Presence:
            case protocol::ClientFrameType::PresenceStats:
                presence(frame->channel, frame->type == protocol::ClientFrameType::PresenceStats, frame->idJson);
                break;
        }
    }

    void onBinary() override {
        sendError("", ErrorCode::BadRequest, "binary frames are not supported; send JSON text");
    }

    // FeedSink
    bool hasRoom() const override { return link_->queuedBytes() < context_.settings.feedRoomBytes; }
    bool overfull() const override { return link_->queuedBytes() > context_.settings.feedOverfullBytes; }
    void waitForRoom() override { link_->notifyWhenDrained(); }
    // One channel of a subscribe could not be had (the server holds its maximum of
    // channels): an error frame with the subscribe's id and the channel; the subscribed
    // frame names the others (none: no subscribed frame).
    void feedRefused(int batch, const std::string& channel, const protocol::Error& error) override {
        auto it = pending_.find(batch);
        std::string idJson;
        if (it != pending_.end()) {
            idJson = it->second.idJson;
            auto& channels = it->second.channels;
            channels.erase(std::remove(channels.begin(), channels.end(), channel), channels.end());
            if (channels.empty()) pending_.erase(it);
        }
        sendError(idJson, error.code, error.message, channel);
    }
    void feedReady(int batch) override {
        auto it = pending_.find(batch);
        if (it == pending_.end()) return;
        std::string frame = protocol::encodeSubscribedFrame(it->second.idJson, it->second.channels,
                                                            feed_.cursorOf(it->second.channels));
        if (it->second.byServer) frame.insert(frame.size() - 1, ",\"server\":true");
        send(frame);
        pending_.erase(it);
    }
    void feedGap(const protocol::Gap& gap) override { send(protocol::encodeGapFrame(gap)); }
    void feedMessage(const MessagePtr& message) override {
        context_.metrics.sent(message->event);
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
    // The token's exp came without an `auth` frame carrying a newer one.
    void onExpired() override {
        if (!link_) return;
        ++context_.metrics.expired;
        sendError("", ErrorCode::TokenExpired,
                  "the token expired; reconnect with a new one and resume from your cursor");
        link_->close(protocol::kCloseTokenExpired, "token_expired");
    }

    // ControlledSession: the backend's server API.
    void disconnectByServer(bool reconnect) override {
        if (!link_ || link_->closing()) return;
        link_->close(reconnect ? protocol::kCloseDisconnectedReconnect : protocol::kCloseDisconnected,
                     reconnect ? "disconnected by server; reconnect" : "disconnected by server");
    }
    void revokeByServer() override {
        if (!link_ || link_->closing()) return;
        sendError("", ErrorCode::TokenRevoked, "the token was revoked; get a new one");
        link_->close(protocol::kCloseTokenExpired, "token_revoked");
    }
    const std::string& clientId() const override { return client_; }
    std::int64_t tokenIssuedAt() const override { return caller_.issuedAt; }
    bool unsubscribeByServer(const std::string& channel) override {
        if (!link_ || !feed_.has(channel)) return false;
        feed_.remove({channel});
        std::string frame = protocol::encodeUnsubscribedFrame({channel});
        frame.insert(frame.size() - 1, ",\"server\":true");
        send(frame);
        return true;
    }
    bool subscribeByServer(const std::string& channel) override {
        if (!link_ || link_->closing() || feed_.has(channel)) return false;
        if (feed_.size() + 1 > context_.settings.maxChannelsPerConnection) {
            context_.metrics.hit(Limit::ChannelsPerConnection);
            return false;
        }
        pending_[feed_.nextBatch()] = PendingSubscribe{"", {channel}, true};
        feed_.add({FeedStart{channel, std::nullopt}});
        return true;
    }

private:
    struct PendingSubscribe {
        std::string idJson;
        std::vector<std::string> channels;
        bool byServer = false;
    };

    void send(const std::string& text) {
        if (link_) link_->sendText(text);
    }

    void sendError(const std::string& idJson, ErrorCode code, const std::string& message,
                   const std::string& channel = {}) {
        ++context_.metrics.errors;
        context_.metrics.refused(code);
        send(protocol::encodeErrorFrame(idJson, code, message, channel));
    }

    void setCaller(Caller caller) {
        context_.sessions.remove(caller_.user(), this);
        caller_ = std::move(caller);
        context_.sessions.add(caller_.user(), this);
        if (caller_.expiresAtMs > 0 && connection_) {
            connection_->expireAt(HttpConnection::Clock::now() +
                                  std::chrono::milliseconds(caller_.expiresAtMs - context_.nowMs()));
        }
    }

    // {"type":"auth","token":...}: the connection is this token's from now on. A token
    // that does not verify closes the connection (4001); channels the new token does not
    // cover are dropped, each with its error frame.
    void authenticate(const std::string& token, const std::string& idJson) {
        auto caller = context_.access.identifyToken(token, context_.nowMs());
        if (!caller) {
            sendError(idJson, caller.error().code, caller.error().message);
            link_->close(protocol::kCloseTokenExpired, std::string(protocol::errorCodeName(caller.error().code)));
            return;
        }
        setCaller(std::move(caller.value()));
        std::vector<std::string> dropped;
        for (const std::string& channel : feed_.channels()) {
            if (auto refusal = context_.access.checkSubscribe(caller_, channel)) {
                sendError("", refusal->code, refusal->message, channel);
                dropped.push_back(channel);
            }
        }
        if (!dropped.empty()) feed_.remove(dropped);
        send(protocol::encodeAuthorizedFrame(idJson, caller_.identity ? caller_.identity->subject : "",
                                             caller_.expiresAtMs / 1000));
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
        if (feed_.size() + added > context_.settings.maxChannelsPerConnection) {
            context_.metrics.hit(Limit::ChannelsPerConnection);
            sendError(idJson, ErrorCode::BadRequest,
                      "too many channels on one connection; at most " +
                          std::to_string(context_.settings.maxChannelsPerConnection));
            return;
        }
        auto starts = feedStarts(channels, cursor ? &*cursor : nullptr);
        if (!starts) {
            sendError(idJson, starts.error().code, "since: " + starts.error().message);
            return;
        }
        // A channel outside the caller's rights is refused alone, with the subscribe's id
        // and its name; the others go on.
        std::vector<FeedStart> allowed;
        std::vector<std::string> allowedChannels;
        for (FeedStart& start : *starts) {
            if (auto refusal = context_.access.checkSubscribe(caller_, start.channel)) {
                sendError(idJson, refusal->code, refusal->message, start.channel);
                continue;
            }
            allowedChannels.push_back(start.channel);
            allowed.push_back(std::move(start));
        }
        if (allowed.empty()) return;
        // Presence channels make this connection a member, as the caller is now.
        if (context_.presence) feed_.setMember(memberOf(caller_, client_), context_.presence->settings().grace);
        // The subscribed frame goes when every position is known (feedReady), which may
        // be during add().
        pending_[feed_.nextBatch()] = PendingSubscribe{idJson, std::move(allowedChannels)};
        feed_.add(std::move(allowed));
    }

    void publish(const protocol::ClientFrame& frame) {
        if (frame.dataJson.size() > context_.settings.maxMessageBytes) {
            ++context_.metrics.publishRejected;
            sendError(frame.idJson, ErrorCode::TooLarge,
                      "data is " + std::to_string(frame.dataJson.size()) + " bytes; at most " +
                          std::to_string(context_.settings.maxMessageBytes));
            return;
        }
        if (auto refusal = context_.access.checkPublish(caller_, frame.channel)) {
            ++context_.metrics.publishRejected;
            sendError(frame.idJson, refusal->code, refusal->message, frame.channel);
            return;
        }
        std::int64_t retryAfterMs = 0;
        const auto rateKey = publishRateKey(caller_, peer_);
        if (rateKey && !context_.publishRate.take(*rateKey, context_.nowMs(), &retryAfterMs)) {
            ++context_.metrics.publishRejected;
            context_.metrics.hit(Limit::PublishRate);
            sendError(frame.idJson, ErrorCode::RateLimited,
                      "more than " + std::to_string(static_cast<long long>(context_.publishRate.rate())) +
                          " publishes a second; retry after " + std::to_string(retryAfterMs) + " ms",
                      frame.channel);
            return;
        }
        auto alive = alive_;
        std::string idJson = frame.idJson;
        std::string channel = frame.channel;
        context_.hub.publish(
            frame.channel, frame.dataJson, frame.idempotencyKey,
            [this, alive, idJson, channel](protocol::Result<MessagePtr> published) {
                if (!*alive) return;
                if (!published) {
                    ++context_.metrics.publishRejected;
                    sendError(idJson, published.error().code, published.error().message, channel);
                    return;
                }
                if (!(*published)->repeated) ++context_.metrics.published;
                send(protocol::encodeAckFrame(idJson, channel, (*published)->seq, (*published)->repeated));
            });
    }

    // {"type":"presence"|"presence_stats","channel":...}: answered with the frame's id.
    void presence(const std::string& channel, bool statsOnly, const std::string& idJson) {
        if (auto refusal = presenceRefusal(context_, caller_, channel)) {
            sendError(idJson, refusal->code, refusal->message, channel);
            return;
        }
        auto alive = alive_;
        readPresence(context_, channel, statsOnly, statsOnly ? "presence_stats" : "presence", idJson,
                     [this, alive, channel, idJson](protocol::Result<std::string> answer) {
                         if (!*alive) return;
                         if (!answer) {
                             sendError(idJson, answer.error().code, answer.error().message, channel);
                             return;
                         }
                         send(*answer);
                     });
    }

    void detach() {
        if (detached_) return;
        detached_ = true;
        *alive_ = false;
        feed_.stop();
        context_.sessions.remove(caller_.user(), this);
        transport_.remove(this);
        context_.metrics.closed(TransportKind::WebSocket);
    }

    WebSocketTransport& transport_;
    Context& context_;
    WebSocketLink* link_ = nullptr;
    HttpConnection* connection_ = nullptr;
    std::string peer_;
    std::string client_;
    Caller caller_;
    Feed feed_;
    std::map<int, PendingSubscribe> pending_;
    std::vector<std::string> early_;  // text frames read before start()
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
    // Cross-site WebSocket hijacking: a browser sends its page's Origin, and a page from
    // an origin not allowed (--allowed-origins) gets no socket. The server's OriginGuard
    // answered such a request before it came here (403 origin_not_allowed, logged).
    // A bad token in the query, cookie or header: the socket opens and closes at once
    // with 4001 and an error frame, which a browser can read (a refused handshake it
    // cannot tell from a network failure).
    auto client = clientIdOf(request);
    if (!client) {
        ++context_.metrics.errors;
        connection->respondError(client.error().code, client.error().message);
        return;
    }
    auto caller = context_.access.identify(request, context_.nowMs());
    auto session = std::make_unique<WsSession>(*this);
    WsSession* raw = session.get();
    // A whole message may be as large as the data limit plus the frame's own fields.
    const std::size_t maxFrame = context_.settings.maxMessageBytes + 4096;
    if (WebSocketLink* link = connection->acceptWebSocket(
            std::move(session), maxFrame, 2 * context_.settings.heartbeat + std::chrono::milliseconds(2000))) {
        if (!caller) {
            context_.metrics.refused(caller.error().code);
            link->sendText(protocol::encodeErrorFrame("", caller.error().code, caller.error().message));
            link->close(
                caller.error().code == ErrorCode::Forbidden ? protocol::kCloseForbidden : protocol::kCloseTokenExpired,
                std::string(protocol::errorCodeName(caller.error().code)));
            return;
        }
        raw->start(*link, *connection, request, std::move(caller.value()), std::move(client->id));
    }
}

std::shared_ptr<const std::string> WebSocketTransport::messageFrame(const MessagePtr& message) {
    if (lastMessage_ != message) {
        lastMessage_ = message;
        lastFrame_ = frameWebSocketText(
            protocol::encodeMessageFrame(message->envelope, protocol::entryEventName(message->event)));
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
