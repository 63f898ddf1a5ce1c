// ClientCore, second half: subscriptions, each channel's position, exactly-once delivery,
// gaps and publishing. The connection half (negotiate, transports, fallback, upgrades,
// reconnect) is client_core.cpp.
#include <algorithm>

#include "core/client_core.hpp"
#include "pushwire/protocol/channel_name.hpp"
#include "pushwire/protocol/cursor.hpp"
#include "pushwire/protocol/frames.hpp"

namespace pushwire::client {

namespace {

Error toError(const protocol::Error& error) {
    return Error{std::string(protocol::errorCodeName(error.code)), error.message};
}

}  // namespace

// ---------------------------------------------------------------- subscriptions

int ClientCore::subscribe(const std::string& channel, MessageHandler onMessage, SubscribeOptions options,
                          Error* error) {
    if (auto problem = protocol::channelNameProblem(channel)) {
        if (error) *error = Error{"bad_channel", *problem};
        return 0;
    }
    int id = nextSubscription_++;
    subscriptions_[id] = SubscriptionEntry{channel, std::move(onMessage), std::move(options)};
    auto [it, added] = channels_.try_emplace(channel);
    it->second.subscriptions.push_back(id);
    if (added && transport_) transport_->channelsChanged({channel}, {});
    return id;
}

void ClientCore::unsubscribe(int subscriptionId) {
    auto sub = subscriptions_.find(subscriptionId);
    if (sub == subscriptions_.end()) return;
    std::string channel = sub->second.channel;
    subscriptions_.erase(sub);
    auto ch = channels_.find(channel);
    if (ch == channels_.end()) return;
    auto& ids = ch->second.subscriptions;
    ids.erase(std::remove(ids.begin(), ids.end(), subscriptionId), ids.end());
    if (ids.empty()) {
        channels_.erase(ch);
        if (transport_) transport_->channelsChanged({}, {channel});
    }
}

std::vector<std::string> ClientCore::channels() const {
    std::vector<std::string> out;
    out.reserve(channels_.size());
    for (const auto& [name, state] : channels_) out.push_back(name);
    return out;
}

std::string ClientCore::resumeCursor(const std::vector<std::string>& wanted) const {
    protocol::Cursor cursor;
    cursor.epoch = epoch_;
    for (const std::string& name : wanted) {
        auto it = channels_.find(name);
        if (it != channels_.end() && it->second.position) {
            cursor.positions.emplace_back(name, *it->second.position);
        }
    }
    if (cursor.positions.empty()) return "";
    return protocol::formatCursor(cursor);
}

// ---------------------------------------------------------------- delivery

void ClientCore::applyEpoch(const std::string& epoch) {
    if (epoch.empty() || epoch == epoch_) return;
    epoch_ = epoch;
    // Positions numbered by an earlier server life mean nothing in this one: tell the
    // application what it may have missed, then take this life's messages from 1.
    std::vector<std::pair<std::string, std::uint64_t>> lost;
    for (auto& [name, state] : channels_) {
        if (!state.position) continue;
        if (!state.positionEpoch.empty() && state.positionEpoch != epoch) {
            lost.emplace_back(name, *state.position);
            state.position = 0;
        }
        state.positionEpoch = epoch;
    }
    for (const auto& [name, position] : lost) {
        emitGap(name, Gap{name, position + 1, std::nullopt, "epoch_changed"});
    }
}

void ClientCore::transportEpoch(int generation, const std::string& epoch) {
    if (isCurrent(generation) || isProbe(generation)) applyEpoch(epoch);
}

void ClientCore::transportCursor(int generation, const std::string& text) {
    if (!isCurrent(generation)) return;
    auto cursor = protocol::parseCursor(text);
    if (!cursor) return;
    if (!cursor->epoch.empty()) applyEpoch(cursor->epoch);
    // Only "from now" channels learn their position here; known positions move only
    // with delivered messages and gaps, which is what makes delivery exactly-once.
    for (const auto& [name, seq] : cursor->positions) {
        auto it = channels_.find(name);
        if (it != channels_.end() && !it->second.position) {
            it->second.position = seq;
            it->second.positionEpoch = epoch_;
        }
    }
}

void ClientCore::transportMessage(int generation, const protocol::Envelope& envelope) {
    if (!isCurrent(generation)) return;
    auto it = channels_.find(envelope.channel);
    if (it == channels_.end()) return;  // unsubscribed meanwhile
    ChannelState& state = it->second;
    if (state.position && envelope.seq <= *state.position) return;  // already delivered
    if (state.position && envelope.seq > *state.position + 1) {
        // The server reports every gap it knows of; a hole without one is still never
        // silent.
        emitGap(envelope.channel, Gap{envelope.channel, *state.position + 1, envelope.seq - 1, "missing"});
        it = channels_.find(envelope.channel);
        if (it == channels_.end()) return;
    }
    it->second.position = envelope.seq;
    it->second.positionEpoch = epoch_;
    Message message{envelope.channel, envelope.seq, envelope.dataJson, envelope.timeMs};
    std::vector<int> ids = it->second.subscriptions;
    for (int id : ids) {
        auto sub = subscriptions_.find(id);
        if (sub == subscriptions_.end() || !sub->second.onMessage) continue;
        MessageHandler handler = sub->second.onMessage;  // may unsubscribe itself
        handler(message);
        if (closed_) return;
    }
}

void ClientCore::transportGap(int generation, const protocol::Gap& gap) {
    if (!isCurrent(generation)) return;
    auto it = channels_.find(gap.channel);
    if (it == channels_.end()) return;
    ChannelState& state = it->second;
    if (gap.reason == protocol::GapReason::EpochChanged) {
        // Already reported when the transport told us the new epoch.
        if (state.position == 0u && state.positionEpoch == epoch_) return;
        std::uint64_t from = state.position ? *state.position + 1 : gap.from;
        state.position = 0;
        state.positionEpoch = epoch_;
        emitGap(gap.channel, Gap{gap.channel, from, std::nullopt, "epoch_changed"});
        return;
    }
    if (!gap.to) return;
    if (state.position && *gap.to <= *state.position) return;  // reported before
    std::uint64_t from = state.position ? std::max(gap.from, *state.position + 1) : gap.from;
    state.position = *gap.to;
    state.positionEpoch = epoch_;
    emitGap(gap.channel, Gap{gap.channel, from, gap.to, "evicted"});
}

void ClientCore::emitGap(const std::string& channel, const Gap& gap) {
    auto it = channels_.find(channel);
    if (it == channels_.end()) return;
    std::vector<int> ids = it->second.subscriptions;
    for (int id : ids) {
        auto sub = subscriptions_.find(id);
        if (sub == subscriptions_.end() || !sub->second.options.onGap) continue;
        GapHandler handler = sub->second.options.onGap;
        handler(gap);
        if (closed_) return;
    }
}

// ---------------------------------------------------------------- publishing

void ClientCore::publish(const std::string& channel, const std::string& dataJson, PublishCallback done) {
    if (closed_) {
        Error error{"closed", "the client is closed"};
        done(std::nullopt, &error);
        return;
    }
    if (auto problem = protocol::channelNameProblem(channel)) {
        Error error{"bad_channel", *problem};
        done(std::nullopt, &error);
        return;
    }
    const TransportInfo* info = currentInfo();
    if (info && opened_ && info->capabilities.bidirectional) {
        std::string id = std::to_string(nextPublishId_++);
        if (transport_->send(protocol::encodePublishFrame(channel, dataJson, id))) {
            pendingPublishes_[id] = std::move(done);
            return;
        }
    }
    publishOverHttp(channel, dataJson, std::move(done));
}

void ClientCore::publishOverHttp(const std::string& channel, const std::string& dataJson, PublishCallback done) {
    std::string body = "{\"channel\":\"" + channel + "\",\"data\":" + dataJson + "}";
    auto alive = alive_;
    platform_.httpRequest("POST", baseUrl_ + "/pushwire/publish", body, 15000,
                          [alive, done = std::move(done)](const HttpResponse& r) {
                              if (!*alive) return;
                              if (r.status == 0) {
                                  Error error{"network", "the publish request failed: server unreachable"};
                                  done(std::nullopt, &error);
                                  return;
                              }
                              auto ack = protocol::decodePublishAck(r.body);
                              if (r.status == 200 && ack) {
                                  done(ack->seq, nullptr);
                                  return;
                              }
                              Error error = ack ? Error{"internal", "unexpected answer"} : toError(ack.error());
                              if (error.code == "internal" || error.code == "bad_json") {
                                  error.message = "HTTP " + std::to_string(r.status) + ": " + error.message;
                              }
                              done(std::nullopt, &error);
                          });
}

void ClientCore::transportAck(int generation, const std::string& idJson, std::uint64_t seq) {
    (void)generation;  // acks are keyed by id; a stale transport's were failed already
    auto it = pendingPublishes_.find(idJson);
    if (it == pendingPublishes_.end()) return;
    PublishCallback done = std::move(it->second);
    pendingPublishes_.erase(it);
    done(seq, nullptr);
}

void ClientCore::transportRequestError(int generation, const std::string& idJson, const protocol::Error& error) {
    (void)generation;
    auto it = pendingPublishes_.find(idJson);
    if (it != pendingPublishes_.end()) {
        PublishCallback done = std::move(it->second);
        pendingPublishes_.erase(it);
        Error e = toError(error);
        done(std::nullopt, &e);
        return;
    }
    // Not a publish: a refused subscription. Tell every subscription's onError.
    Error e = toError(error);
    auto subs = subscriptions_;
    for (auto& [id, sub] : subs) {
        if (subscriptions_.count(id) && sub.options.onError) sub.options.onError(e);
    }
}

void ClientCore::failPendingPublishes(const std::string& message) {
    auto pending = std::move(pendingPublishes_);
    pendingPublishes_.clear();
    for (auto& [id, done] : pending) {
        Error error{"network", message};
        done(std::nullopt, &error);
    }
}

}  // namespace pushwire::client
