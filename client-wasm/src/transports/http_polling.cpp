#include "transports/http_polling.hpp"

#include <algorithm>

#include "core/wire.hpp"
#include "pushwire/protocol/frames.hpp"

namespace pushwire::client {

HttpPollingTransport::~HttpPollingTransport() { close(); }

void HttpPollingTransport::open() { request(); }

void HttpPollingTransport::close() {
    if (closed_) return;
    closed_ = true;
    if (inFlight_) platform_.abortRequest(inFlight_);
    if (timer_) platform_.cancelTimer(timer_);
    inFlight_ = 0;
    timer_ = 0;
}

std::string HttpPollingTransport::query() {
    requestChannels_ = listener_.channels();
    const std::vector<std::string>& channels = requestChannels_;
    std::string out = "channels=";
    for (std::size_t i = 0; i < channels.size(); ++i) {
        if (i) out += ',';
        out += channels[i];  // channel names need no escaping in a query
    }
    std::string cursor = listener_.resumeCursor(channels);
    if (!cursor.empty()) out += "&since=" + cursor;                      // neither does a cursor
    if (!config_.session.empty()) out += "&session=" + config_.session;  // hex
    return out;
}

void HttpPollingTransport::request() {
    if (closed_) return;
    if (listener_.channels().empty()) {
        // Nothing to read: connected as far as anyone can tell. Wait for a subscription.
        if (!opened_) {
            opened_ = true;
            listener_.transportOpened(generation_);
        }
        return;
    }
    const bool first = !opened_;
    changedWhileInFlight_ = false;
    usedToken_ = config_.currentToken();
    inFlight_ = platform_.httpRequest("GET", config_.baseUrl + path(first), "", usedToken_, requestTimeoutMs(first),
                                      [this](const HttpResponse& r) {
                                          inFlight_ = 0;
                                          onResponse(r);
                                      });
}

void HttpPollingTransport::onResponse(const HttpResponse& response) {
    if (closed_) return;
    if (response.status != 200) {
        protocol::Error reason{protocol::ErrorCode::Internal, response.status == 0
                                                                  ? std::string("request failed (network or timeout)")
                                                                  : "HTTP " + std::to_string(response.status)};
        if (auto error = wire::errorBody(response.body)) reason = *error;
        if (reason.code == protocol::ErrorCode::Disconnected) {
            // The backend's disconnect: the error says whether to come back.
            auto action = wire::serverAction(response.body);
            listener_.transportDisconnected(generation_, action && action->reconnect);
            return;
        }
        const bool auth = reason.code == protocol::ErrorCode::Unauthorized ||
                          reason.code == protocol::ErrorCode::TokenExpired ||
                          reason.code == protocol::ErrorCode::TokenRevoked;
        if (auth && config_.currentToken() != usedToken_) {
            schedule(0);  // asked with the token before the refresh: again with the new one
            return;
        }
        // Every channel of the request refused: each is reported to its subscriptions,
        // which end; the request goes on with what is left (nothing, often).
        auto refused = wire::refusals(response.body);
        if (!refused.empty() && (auth || reason.code == protocol::ErrorCode::Forbidden)) {
            const int generation = generation_;
            for (const protocol::Refusal& refusal : refused) {
                if (closed_) return;
                listener_.transportRequestError(generation, "", refusal.error, refusal.channel);
            }
            if (!closed_) schedule(0);
            return;
        }
        listener_.transportClosed(generation_, reason);
        return;
    }
    auto batch = wire::pollResponse(response.body);
    if (!batch) {
        listener_.transportClosed(generation_, batch.error());
        return;
    }
    const int generation = generation_;
    listener_.transportActivity(generation);
    if (!batch->clientId.empty()) listener_.transportClientId(generation, batch->clientId);
    if (!opened_) {
        opened_ = true;
        listener_.transportOpened(generation);
    }
    // Each call may close us (a callback may close the client): check after each.
    for (const protocol::Refusal& refusal : batch->refused) {
        if (closed_) return;
        listener_.transportRequestError(generation, "", refusal.error, refusal.channel);
    }
    // The backend's server API: channels taken away are asked for no more; channels added
    // are read from now (the cursor names them).
    if (!batch->unsubscribed.empty()) listener_.transportServerUnsubscribed(generation, batch->unsubscribed);
    if (closed_) return;
    if (!batch->subscribed.empty()) {
        listener_.transportServerSubscribed(generation, batch->subscribed);
        if (closed_) return;
        requestChannels_.insert(requestChannels_.end(), batch->subscribed.begin(), batch->subscribed.end());
    }
    for (const protocol::Gap& gap : batch->gaps) {
        if (closed_) return;
        listener_.transportGap(generation, gap);
    }
    for (const protocol::Envelope& message : batch->messages) {
        if (closed_) return;
        listener_.transportMessage(generation, message);
    }
    if (closed_) return;
    listener_.transportCursor(generation, batch->cursor, requestChannels_);
    if (closed_) return;
    schedule(batch->more || changedWhileInFlight_ ? 0 : nextDelayMs());
}

void HttpPollingTransport::schedule(int delayMs) {
    if (closed_) return;
    if (timer_) platform_.cancelTimer(timer_);
    timer_ = platform_.setTimer(delayMs, [this] {
        timer_ = 0;
        request();
    });
}

void HttpPollingTransport::channelsChanged(const std::vector<std::string>& added, const std::vector<std::string>&) {
    if (closed_ || !opened_) return;
    if (inFlight_) {
        if (interruptOnChange() && !added.empty()) {
            // A held request would not see the new channel until it returns: cut it. Its
            // answer is lost, but nothing was delivered from it, so positions still hold.
            platform_.abortRequest(inFlight_);
            inFlight_ = 0;
            schedule(0);
        } else {
            changedWhileInFlight_ = true;
        }
        return;
    }
    // Ask at once: a new channel's "now" is when the server first hears of it.
    if (!added.empty()) schedule(0);
}

namespace {

class PollTransport final : public HttpPollingTransport {
public:
    using HttpPollingTransport::HttpPollingTransport;

protected:
    std::string path(bool) override { return "/pushwire/poll?" + query(); }
    // An answer that takes two heartbeat intervals is a dead link.
    int requestTimeoutMs(bool) const override { return std::max(2000, 2 * config_.heartbeatMs); }
    int nextDelayMs() const override { return config_.pollIntervalMs; }
    bool interruptOnChange() const override { return false; }
};

class LongPollTransport final : public HttpPollingTransport {
public:
    using HttpPollingTransport::HttpPollingTransport;

protected:
    // The opening request answers at once (timeout 0): the client is connected, and
    // learns the positions, without waiting for the first message.
    std::string path(bool first) override {
        return "/pushwire/longpoll?" + query() + "&timeout_ms=" + std::to_string(first ? 0 : config_.longPollTimeoutMs);
    }
    // A held request that outlives its timeout by a heartbeat interval is a dead link.
    int requestTimeoutMs(bool first) const override {
        return first ? std::max(2000, 2 * config_.heartbeatMs)
                     : config_.longPollTimeoutMs + std::max(1000, config_.heartbeatMs);
    }
    int nextDelayMs() const override { return 0; }
    bool interruptOnChange() const override { return true; }
};

}  // namespace

std::unique_ptr<Transport> createPollTransport(TransportListener& l, Platform& p, TransportConfig c, int g) {
    return std::make_unique<PollTransport>(l, p, std::move(c), g);
}

std::unique_ptr<Transport> createLongPollTransport(TransportListener& l, Platform& p, TransportConfig c, int g) {
    return std::make_unique<LongPollTransport>(l, p, std::move(c), g);
}

}  // namespace pushwire::client
