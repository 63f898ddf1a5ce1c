#include "core/client_core.hpp"

#include <algorithm>

#include "core/wire.hpp"
#include "pushwire/protocol/channel_name.hpp"
#include "pushwire/protocol/cursor.hpp"
#include "pushwire/protocol/frames.hpp"

namespace pushwire::client {

using protocol::ErrorCode;

namespace {

pushwire::Transport publicKind(TransportKind kind) {
    switch (kind) {
        case TransportKind::WebSocket: return pushwire::Transport::WebSocket;
        case TransportKind::Sse: return pushwire::Transport::Sse;
        case TransportKind::LongPoll: return pushwire::Transport::LongPoll;
        case TransportKind::Poll: return pushwire::Transport::Poll;
    }
    return pushwire::Transport::Auto;
}

std::string trimSlash(std::string url) {
    while (!url.empty() && url.back() == '/') url.pop_back();
    return url;
}

bool validBaseUrl(const std::string& url) {
    auto schemeEnd = url.find("://");
    if (schemeEnd == std::string::npos) return false;
    std::string scheme = url.substr(0, schemeEnd);
    return (scheme == "http" || scheme == "https") && url.size() > schemeEnd + 3;
}

}  // namespace

ClientCore::ClientCore(Platform& platform, std::vector<TransportInfo> registry, std::vector<std::string> urls,
                       ClientOptions options)
    : platform_(platform),
      registry_(std::move(registry)),
      urls_(std::move(urls)),
      baseUrl_(urls_.empty() ? std::string() : trimSlash(urls_.front())),
      options_(std::move(options)),
      backoff_(options_.reconnectInitialMs, options_.reconnectMaxMs),
      session_(platform_.randomHex(32)) {}

ClientCore::~ClientCore() {
    alive_.end();
    closed_ = true;
    if (transport_) transport_->close();
    for (auto& t : retired_) t->close();
    if (probe_) probe_->close();
    for (TimerId* t : {&reconnectTimer_, &connectTimer_, &deadLinkTimer_, &reapTimer_, &upgradeTimer_, &probeTimer_,
                       &stableTimer_, &tokenTimer_, &heldTimer_}) {
        cancelTimer(*t);
    }
    if (negotiateRequest_) platform_.abortRequest(negotiateRequest_);
    for (auto& [name, state] : channels_) cancelTimer(state.presence.retryTimer);
}

void ClientCore::cancelTimer(TimerId& id) {
    if (id) platform_.cancelTimer(id);
    id = 0;
}

pushwire::Transport ClientCore::transport() const {
    const TransportInfo* info = currentInfo();
    return info && opened_ ? publicKind(info->kind) : pushwire::Transport::Auto;
}

const TransportInfo* ClientCore::currentInfo() const {
    if (!transport_ || candidate_ >= candidates_.size()) return nullptr;
    return &registry_[candidates_[candidate_]];
}

void ClientCore::setState(State state, const std::string& reason) {
    if (state == state_ && reason == stateReason_) return;
    const bool changed = state != state_;
    state_ = state;
    stateReason_ = reason;
    if (!changed) return;
    if (state != State::Connected) {
        for (auto& entry : subscriptions_) entry.second.served = false;
    }
    // The handlers there are now, each copied before its call: a handler may add handlers
    // (which hear the next change).
    const std::size_t count = stateHandlers_.size();
    for (std::size_t i = 0; i < count; ++i) {
        StateHandler handler = stateHandlers_[i];
        handler(state, reason);
    }
}

void ClientCore::onStateChange(StateHandler handler) { stateHandlers_.push_back(std::move(handler)); }

// ---------------------------------------------------------------- connecting

void ClientCore::start() {
    for (std::string& url : urls_) {
        url = trimSlash(url);
        if (!validBaseUrl(url)) {
            closed_ = true;
            state_ = State::Connecting;
            setState(State::Closed, "invalid server URL '" + url + "': expected http://host:port or https://host");
            return;
        }
    }
    if (urls_.empty()) {
        closed_ = true;
        setState(State::Closed, "no server URL given");
        return;
    }
    negotiate();
}

bool ClientCore::nextServer() {
    if (urls_.size() < 2 || serversTried_ >= urls_.size()) return false;
    ++serversTried_;
    server_ = (server_ + 1) % urls_.size();
    baseUrl_ = urls_[server_];
    negotiated_ = false;
    settled_.reset();
    candidate_ = 0;
    fallbackLog_.clear();
    strikes_ = 0;
    return true;
}

void ClientCore::negotiate() {
    if (closed_) return;
    auto alive = alive_;
    negotiateRequest_ = platform_.httpRequest("GET", baseUrl_ + "/pushwire/negotiate", "", "", 5000,
                                              [this, alive](const HttpResponse& r) {
                                                  if (!alive.alive()) return;
                                                  negotiateRequest_ = 0;
                                                  onNegotiated(r);
                                              });
}

void ClientCore::onNegotiated(const HttpResponse& response) {
    if (closed_) return;
    if (response.status != 200) {
        std::string reason = response.status == 0 ? "server unreachable at " + baseUrl_
                                                  : "negotiate answered HTTP " + std::to_string(response.status);
        if (auto error = wire::errorBody(response.body)) {
            reason += " " + std::string(protocol::errorCodeName(error->code)) + ": " + error->message;
        } else if (response.status == 0 && !response.body.empty()) {
            reason += " (" + response.body + ")";  // the platform's why (native: a TLS failure...)
        }
        // Unreachable or unable to serve (its broker down): the next server, at once.
        if ((response.status == 0 || response.status >= 500) && nextServer()) {
            negotiate();
            return;
        }
        scheduleReconnect(reason);
        return;
    }
    auto value = wire::negotiate(response.body);
    if (!value) {
        scheduleReconnect("negotiate answer not understood: " + value.error().message);
        return;
    }
    negotiated_ = true;
    websocketUrl_ = value->websocketUrl;
    heartbeatMs_ = value->heartbeatMs > 0 ? value->heartbeatMs : 10000;
    maxMessageBytes_ = value->maxMessageBytes;
    candidates_.clear();
    for (std::size_t i = 0; i < registry_.size(); ++i) {
        const TransportInfo& info = registry_[i];
        const bool offered =
            std::find(value->transports.begin(), value->transports.end(), info.name) != value->transports.end();
        const bool wanted =
            options_.transport == pushwire::Transport::Auto || publicKind(info.kind) == options_.transport;
        if (offered && wanted) candidates_.push_back(i);
    }
    if (candidates_.empty()) {
        closed_ = true;
        setState(State::Closed,
                 std::string("the server does not offer the ") + toString(options_.transport) + " transport");
        return;
    }
    if (!settled_ && options_.transport == pushwire::Transport::Auto) {
        // The transport that worked for this server earlier in the page's life: start
        // there instead of probing the list again.
        auto& memory = platform_.pageMemory();
        auto remembered = memory.find("transport " + baseUrl_);
        if (remembered != memory.end()) {
            for (std::size_t index : candidates_) {
                if (remembered->second == registry_[index].name) settled_ = index;
            }
        }
    }
    if (settled_) {
        auto it = std::find(candidates_.begin(), candidates_.end(), *settled_);
        candidate_ = it == candidates_.end() ? 0 : static_cast<std::size_t>(it - candidates_.begin());
    } else {
        candidate_ = 0;
        fallbackLog_.clear();
    }
    connectCandidate();
}

std::unique_ptr<Transport> ClientCore::createTransport(std::size_t candidate, int generation) {
    TransportConfig config;
    config.baseUrl = baseUrl_;
    config.websocketUrl = websocketUrl_;
    config.heartbeatMs = heartbeatMs_;
    config.pollIntervalMs = std::max(50, options_.pollIntervalMs);
    config.longPollTimeoutMs = heartbeatMs_;
    config.session = session_;
    auto alive = alive_;
    config.token = [this, alive] { return alive.alive() ? token_ : std::string(); };
    return registry_[candidates_[candidate]].create(*this, platform_, std::move(config), generation);
}

int ClientCore::openTimeoutMs(std::size_t candidate) const {
    return options_.connectTimeoutMs > 0 ? options_.connectTimeoutMs : registry_[candidates_[candidate]].openTimeoutMs;
}

void ClientCore::connectCandidate() {
    if (closed_) return;
    if (options_.getToken && (token_.empty() || (tokenExpiresMs_ > 0 && platform_.nowMs() >= tokenExpiresMs_ - 1000))) {
        withToken(false, [this] { connectCandidate(); });
        return;
    }
    opened_ = false;
    activityAfterOpen_ = 0;
    generation_ = ++nextGeneration_;
    transport_ = createTransport(candidate_, generation_);
    cancelTimer(connectTimer_);
    auto alive = alive_;
    const int generation = generation_;
    const int timeout = openTimeoutMs(candidate_);
    connectTimer_ = platform_.setTimer(timeout, [this, alive, generation, timeout] {
        if (!alive.alive()) return;
        connectTimer_ = 0;
        if (isCurrent(generation) && !opened_) {
            failTransport("did not open within " + std::to_string(timeout) + " ms");
        }
    });
    transport_->open();
}

void ClientCore::transportOpened(int generation) {
    if (isProbe(generation)) {
        promoteProbe();
        return;
    }
    if (!isCurrent(generation) || opened_) return;
    opened_ = true;
    cancelTimer(connectTimer_);
    settle();
    setState(State::Connected, "");
    // A new connection: what happened to the watched member sets while there was none is
    // read again (the stream resumes the entries, but a snapshot also heals what it lost).
    for (const std::string& channel : channels()) {
        if (closed_ || !isCurrent(generation)) return;
        needPresenceSnapshot(channel);
    }
}

void ClientCore::settle() {
    serversTried_ = 1;
    settled_ = candidates_[candidate_];
    platform_.pageMemory()["transport " + baseUrl_] = registry_[*settled_].name;
    // The backoff starts over only once the transport has stayed up a while: one that
    // opens and is closed again at once (a server refusing it, a proxy) must not be
    // retried in a tight loop.
    cancelTimer(stableTimer_);
    auto alive = alive_;
    const int generation = generation_;
    stableTimer_ = platform_.setTimer(std::max(options_.reconnectMaxMs, heartbeatMs_), [this, alive, generation] {
        if (!alive.alive()) return;
        stableTimer_ = 0;
        if (isCurrent(generation)) backoff_.reset();
    });
    armDeadLinkTimer();
    scheduleUpgrade();
}

void ClientCore::transportClosed(int generation, const protocol::Error& reason) {
    if (isProbe(generation)) {
        probeFailed();
        return;
    }
    if (!isCurrent(generation)) return;
    if (recoverFromAuthFailure(reason)) return;
    failTransport(reason.message.empty() ? std::string(protocol::errorCodeName(reason.code)) : reason.message);
}

// ---------------------------------------------------------------- tokens

void ClientCore::withToken(bool force, Callback<void()> then) {
    if (!options_.getToken) {
        then();
        return;
    }
    const bool good = !token_.empty() && !(tokenExpiresMs_ > 0 && platform_.nowMs() >= tokenExpiresMs_ - 1000);
    if (good && !force) {
        then();
        return;
    }
    afterToken_.push_back(std::move(then));
    if (fetchingToken_ && !force) return;
    fetchingToken_ = true;
    const int request = ++tokenRequest_;
    auto alive = alive_;
    options_.getToken([this, alive, request](const std::string& token) {
        if (!alive.alive() || closed_ || request != tokenRequest_) return;
        tokenArrived(token);
    });
}

void ClientCore::tokenArrived(const std::string& token) {
    fetchingToken_ = false;
    auto waiting = std::move(afterToken_);
    afterToken_.clear();
    if (token.empty()) {
        if (!waiting.empty()) {
            scheduleReconnect("getToken gave no token");  // the reconnect asks again
        } else {
            // A refresh ahead of exp failed: try again shortly, while the token lasts.
            cancelTimer(tokenTimer_);
            auto alive = alive_;
            tokenTimer_ = platform_.setTimer(2000, [this, alive] {
                if (!alive.alive()) return;
                tokenTimer_ = 0;
                withToken(true, [] {});
            });
        }
        return;
    }
    token_ = token;
    auto exp = wire::tokenExpiry(token);
    tokenExpiresMs_ = exp && *exp > 0 ? *exp * 1000 : 0;
    scheduleTokenRefresh();
    // A refresh while connected: the open transport takes the new token. WebSocket in
    // band (an auth frame); an event stream is reopened from its cursor (EventSource
    // cannot change its URL); polls send it with their next request.
    if (transport_ && opened_) {
        const TransportInfo* info = currentInfo();
        if (info && info->kind == TransportKind::WebSocket) {
            transport_->send(protocol::encodeAuthFrame(token_, ""));
        } else if (info && info->kind == TransportKind::Sse) {
            retire(std::move(transport_));
            cancelTimer(deadLinkTimer_);
            connectCandidate();
        }
    }
    for (auto& then : waiting) {
        if (closed_) return;
        then();
    }
}

void ClientCore::scheduleTokenRefresh() {
    cancelTimer(tokenTimer_);
    if (!options_.getToken || tokenExpiresMs_ <= 0) return;
    const std::int64_t left = tokenExpiresMs_ - platform_.nowMs();
    if (left <= 0) return;  // refused at the next request, which gets a new one
    // Ahead of exp by a fifth of the lifetime, between 1 s and 60 s.
    const std::int64_t margin = std::min<std::int64_t>(60000, std::max<std::int64_t>(1000, left / 5));
    const std::int64_t delay = std::max(left - margin, left / 2);
    auto alive = alive_;
    tokenTimer_ = platform_.setTimer(static_cast<int>(std::min<std::int64_t>(delay, INT32_MAX)), [this, alive] {
        if (!alive.alive()) return;
        tokenTimer_ = 0;
        withToken(true, [] {});
    });
}

bool ClientCore::recoverFromAuthFailure(const protocol::Error& reason) {
    const bool revoked = reason.code == ErrorCode::TokenRevoked;
    if (reason.code != ErrorCode::Unauthorized && reason.code != ErrorCode::TokenExpired && !revoked) return false;
    // An expired token is routine (a new one is asked for at once): the subscriptions hear
    // of it only when the new one fails too. A token refused outright (or revoked by the
    // backend), at once.
    if (reason.code != ErrorCode::TokenExpired || authFailures_ > 0) tellAuthRefusal(toError(reason));
    if (closed_ || !transport_) return true;
    dropTransport();
    std::string why = std::string(protocol::errorCodeName(reason.code)) + ": " + reason.message;
    if (revoked && !options_.getToken) {
        // The same token would be refused for good: nothing to retry with.
        stop(why + " (the client stops: give it a getToken option to get a new token)");
        return true;
    }
    if (!options_.getToken) {
        scheduleReconnect(why + " (give the client a getToken option)");
        return true;
    }
    // The token goes: the next connect asks getToken for another.
    token_.clear();
    tokenExpiresMs_ = 0;
    cancelTimer(tokenTimer_);
    if (authFailures_++ == 0) {
        setState(State::Reconnecting, why + "; asking getToken for a new token");
        reconnect();
    } else {
        scheduleReconnect(why + "; getToken is asked again before each retry");
    }
    return true;
}

void ClientCore::tellAuthRefusal(const Error& error) {
    if (authTold_) return;
    authTold_ = true;
    tellEverySubscription(error);
}

// ---------------------------------------------------------------- upgrades

void ClientCore::scheduleUpgrade() {
    cancelTimer(upgradeTimer_);
    if (options_.transport != pushwire::Transport::Auto || options_.upgradeIntervalMs <= 0 || candidate_ == 0 ||
        probe_ || closed_) {
        return;
    }
    auto alive = alive_;
    upgradeTimer_ = platform_.setTimer(options_.upgradeIntervalMs, [this, alive] {
        if (!alive.alive()) return;
        upgradeTimer_ = 0;
        if (opened_ && !closed_) startProbe(0);
    });
}

void ClientCore::startProbe(std::size_t candidate) {
    probeCandidate_ = candidate;
    probeGeneration_ = ++nextGeneration_;
    probe_ = createTransport(candidate, probeGeneration_);
    auto alive = alive_;
    const int generation = probeGeneration_;
    probeTimer_ = platform_.setTimer(openTimeoutMs(candidate), [this, alive, generation] {
        if (!alive.alive()) return;
        probeTimer_ = 0;
        if (isProbe(generation)) probeFailed();
    });
    probe_->open();
}

void ClientCore::probeFailed() {
    cancelTimer(probeTimer_);
    retire(std::move(probe_));
    // Try the next better one at once, else wait for the next round.
    if (probeCandidate_ + 1 < candidate_) {
        startProbe(probeCandidate_ + 1);
    } else {
        scheduleUpgrade();
    }
}

// The probe opened: it becomes the transport. It has delivered nothing yet (transports
// report "opened" before any message), and it reads the cursor after this switch, so
// the change of transport loses and repeats nothing.
void ClientCore::promoteProbe() {
    cancelTimer(probeTimer_);
    cancelTimer(connectTimer_);
    retire(std::move(transport_));
    failPendingPublishes("the client switched transport before the server acknowledged the publish");
    movePresenceQueries(false);
    transport_ = std::move(probe_);
    generation_ = probeGeneration_;
    candidate_ = probeCandidate_;
    opened_ = true;
    activityAfterOpen_ = 0;
    strikes_ = 0;
    settle();
}

void ClientCore::stopProbing() {
    cancelTimer(upgradeTimer_);
    cancelTimer(probeTimer_);
    if (probe_) retire(std::move(probe_));
}

void ClientCore::dropTransport() {
    retire(std::move(transport_));
    opened_ = false;
    cancelTimer(connectTimer_);
    cancelTimer(deadLinkTimer_);
    cancelTimer(stableTimer_);
    failPendingPublishes("the connection closed before the server acknowledged the publish");
    movePresenceQueries(false);
    stopProbing();
}

void ClientCore::failTransport(const std::string& reason) {
    if (!transport_) return;
    const TransportInfo& info = registry_[candidates_[candidate_]];
    const bool wasOpen = opened_;
    dropTransport();
    std::string why = std::string(info.name) + ": " + reason;
    const bool automatic = options_.transport == pushwire::Transport::Auto;
    if (wasOpen && automatic) {
        // A transport that opens and then dies before any traffic, twice running, is
        // as unusable as one that cannot open (a proxy killing held requests or
        // upgraded connections): move down the list.
        strikes_ = activityAfterOpen_ == 0 ? strikes_ + 1 : 0;
        if (strikes_ >= 2 && candidate_ + 1 < candidates_.size()) {
            strikes_ = 0;
            fallbackLog_ += (fallbackLog_.empty() ? "" : "; ") + why + " (twice, before any traffic)";
            settled_ = candidates_[candidate_ + 1];
            scheduleReconnect(why + "; trying " + registry_[*settled_].name);
            return;
        }
    }
    if (!wasOpen && settled_ && nextServer()) {
        // The transport that used to work no longer opens here: this server may be gone.
        // The next one, asked afresh; positions carry over, so delivery resumes there.
        setState(State::Reconnecting, why + "; trying " + baseUrl_);
        negotiate();
        return;
    }
    if (!wasOpen && settled_) {
        // The transport that used to work no longer opens: ask the server again and
        // start from the top of the list.
        negotiated_ = false;
        settled_.reset();
        platform_.pageMemory().erase("transport " + baseUrl_);
        candidate_ = 0;
        fallbackLog_.clear();
    }
    if (!wasOpen && !settled_ && candidate_ + 1 < candidates_.size()) {
        // "auto": this transport cannot connect here; try the next one at once.
        fallbackLog_ += (fallbackLog_.empty() ? "" : "; ") + why;
        ++candidate_;
        connectCandidate();
        return;
    }
    if (!wasOpen && !settled_) fallbackLog_ += (fallbackLog_.empty() ? "" : "; ") + why;
    scheduleReconnect(
        !wasOpen && !settled_ && candidates_.size() > 1 ? "no transport could connect (" + fallbackLog_ + ")" : why);
}

void ClientCore::scheduleReconnect(const std::string& reason) {
    if (closed_) return;
    setState(State::Reconnecting, reason);
    cancelTimer(reconnectTimer_);
    auto alive = alive_;
    int delay = backoff_.nextDelayMs(platform_.random01());
    if (debug_) debug_("reconnecting in " + std::to_string(delay) + " ms (" + reason + ")");
    reconnectTimer_ = platform_.setTimer(delay, [this, alive] {
        if (!alive.alive()) return;
        reconnectTimer_ = 0;
        reconnect();
    });
}

// Straight back to the transport that worked: it opens a fresh connection and reports
// the server's epoch itself. A negotiate first would cost a round trip, and could sit on
// a pooled keep-alive connection that died with the link. Negotiate again only when that
// transport no longer opens.
void ClientCore::reconnect() {
    if (negotiated_ && settled_) {
        auto it = std::find(candidates_.begin(), candidates_.end(), *settled_);
        if (it != candidates_.end()) {
            candidate_ = static_cast<std::size_t>(it - candidates_.begin());
            connectCandidate();
            return;
        }
    }
    negotiate();
}

void ClientCore::reconnectNowHint() {
    if (closed_ || !reconnectTimer_) return;
    cancelTimer(reconnectTimer_);
    reconnect();
}

void ClientCore::retire(std::unique_ptr<Transport> transport) {
    transport->close();
    retired_.push_back(std::move(transport));
    if (reapTimer_) return;
    auto alive = alive_;
    reapTimer_ = platform_.setTimer(0, [this, alive] {
        if (!alive.alive()) return;
        reapTimer_ = 0;
        retired_.clear();
    });
}

void ClientCore::armDeadLinkTimer() {
    cancelTimer(deadLinkTimer_);
    lastActivityMs_ = platform_.monotonicMs();
    const TransportInfo* info = currentInfo();
    if (!info || !info->capabilities.heartbeats || !opened_) return;
    // Two heartbeat intervals of silence: the link is dead even if the socket says not.
    waitForSilence(2 * heartbeatMs_);
}

// One timer per silence, not one per frame: it fires, finds what arrived meanwhile, and
// waits again for the rest of the limit. (Setting a browser timer again for every
// message cost the page more than decoding the message did.)
void ClientCore::waitForSilence(int delayMs) {
    auto alive = alive_;
    const int generation = generation_;
    deadLinkTimer_ = platform_.setTimer(delayMs, [this, alive, generation] {
        if (!alive.alive()) return;
        deadLinkTimer_ = 0;
        if (!isCurrent(generation)) return;
        const int limit = 2 * heartbeatMs_;
        const std::int64_t quiet = std::max<std::int64_t>(platform_.monotonicMs() - lastActivityMs_, 0);
        if (quiet >= limit) {
            failTransport("no data or heartbeat for " + std::to_string(limit) + " ms");
        } else {
            waitForSilence(static_cast<int>(limit - quiet));
        }
    });
}

void ClientCore::transportActivity(int generation) {
    if (isCurrent(generation) && opened_) {
        ++activityAfterOpen_;
        lastActivityMs_ = platform_.monotonicMs();
    }
}

void ClientCore::disconnect() {
    if (closed_ || state_ == State::Disconnected) return;
    if (transport_) dropTransport();  // its timers and probe too
    cancelTimer(reconnectTimer_);
    cancelTimer(tokenTimer_);
    if (negotiateRequest_) {
        platform_.abortRequest(negotiateRequest_);
        negotiateRequest_ = 0;
    }
    // A token asked for meanwhile is dropped when it comes; connect() asks again.
    ++tokenRequest_;
    fetchingToken_ = false;
    afterToken_.clear();
    setState(State::Disconnected, "disconnected by the application");
}

void ClientCore::connect() {
    if (closed_ || state_ != State::Disconnected) return;
    backoff_.reset();
    authFailures_ = 0;
    setState(State::Connecting, "");
    reconnect();
}

std::string ClientCore::currentToken() const {
    const bool expired = tokenExpiresMs_ > 0 && platform_.nowMs() >= tokenExpiresMs_ - 1000;
    return expired ? std::string() : token_;
}

void ClientCore::close() {
    if (closed_ && state_ == State::Closed) return;
    stop("closed by the application");
}

void ClientCore::stop(const std::string& reason) {
    closed_ = true;
    stopProbing();
    if (transport_) retire(std::move(transport_));
    for (TimerId* t : {&reconnectTimer_, &connectTimer_, &deadLinkTimer_, &stableTimer_, &tokenTimer_, &heldTimer_}) {
        cancelTimer(*t);
    }
    if (negotiateRequest_) {
        platform_.abortRequest(negotiateRequest_);
        negotiateRequest_ = 0;
    }
    failPendingPublishes("the client was closed");
    failHeldPublishes();
    movePresenceQueries(true);
    for (auto& [name, state] : channels_) cancelTimer(state.presence.retryTimer);
    setState(State::Closed, reason);
}

}  // namespace pushwire::client
