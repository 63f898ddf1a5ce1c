// ClientCore, second half: subscriptions, each channel's position, exactly-once delivery
// and gaps. The connection half (negotiate, transports, fallback, upgrades, reconnect) is
// client_core.cpp; publishing is client_publish.cpp.
#include <algorithm>

#include "core/client_core.hpp"
#include "core/wire.hpp"
#include "pushwire/protocol/channel_name.hpp"
#include "pushwire/protocol/cursor.hpp"
#include "pushwire/protocol/frames.hpp"

namespace pushwire::client {

Error toError(const protocol::Error& error) {
    return Error{std::string(protocol::errorCodeName(error.code)), error.message};
}

// ---------------------------------------------------------------- subscriptions

int ClientCore::subscribe(const std::string& channel, MessageHandler onMessage, SubscribeOptions options,
                          Error* error) {
    if (auto problem = protocol::channelNameProblem(channel)) {
        if (error) *error = Error{"bad_channel", *problem};
        return 0;
    }
    // A saved position: "0" (the oldest held) or a cursor naming this channel.
    std::optional<protocol::StreamPosition> start;
    if (options.since == "0") {
        start = protocol::StreamPosition{0, ""};
    } else if (!options.since.empty()) {
        if (auto cursor = protocol::parseCursor(options.since)) {
            auto positions = protocol::positionsFor(cursor.value(), {channel});
            if (positions && !positions.value().empty() && positions.value()[0]) start = *positions.value()[0];
        }
        // Not a position of this channel (a bad saved value, another channel's): read
        // from now, and say so.
        if (!start && error) {
            *error = Error{"bad_cursor", "since '" + options.since.substr(0, 64) + "' is not a position of '" +
                                             channel + "' (give what sub.position gave, or \"0\"): reading from now"};
        }
    }
    int id = nextSubscription_++;
    subscriptions_.emplace(id, SubscriptionEntry{channel, std::move(onMessage), std::move(options)});
    auto [it, added] = channels_.try_emplace(channel);
    if (added && start) {
        it->second.position = start->seq;
        it->second.epoch = start->epoch;
    }
    it->second.subscriptions.push_back(id);
    if (added && transport_) transport_->channelsChanged({channel}, {});
    if (subscriptions_.at(id).watchesPresence()) {
        if (it->second.presence.unavailable) {
            subscriptions_.at(id).presenceSynced = true;  // no snapshot to wait for
        } else {
            needPresenceSnapshot(channel);
        }
    }
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
    if (!watchesPresence(channel)) stopPresence(ch->second.presence);
    if (ids.empty()) {
        releaseHeld(channel);
        ch = channels_.find(channel);
        if (ch == channels_.end() || !ch->second.subscriptions.empty() || ch->second.byServer) return;
        channels_.erase(ch);
        if (transport_) transport_->channelsChanged({}, {channel});
    }
}

std::string ClientCore::position(int subscriptionId) const {
    auto sub = subscriptions_.find(subscriptionId);
    if (sub == subscriptions_.end()) return {};
    auto ch = channels_.find(sub->second.channel);
    if (ch == channels_.end() || !ch->second.position) return {};
    std::string out;
    protocol::appendSingleCursor(out, ch->second.epoch, sub->second.channel, *ch->second.position);
    return out;
}

std::vector<std::string> ClientCore::channels() const {
    std::vector<std::string> out;
    out.reserve(channels_.size());
    for (const auto& [name, state] : channels_) out.push_back(name);
    return out;
}

// Named entries for the channels with a known position; when every channel has one,
// the encoder may go by place instead, which keeps the URL short for many channels.
std::string ClientCore::resumeCursor(const std::vector<std::string>& wanted) const {
    std::vector<protocol::ChannelPosition> positions;
    positions.reserve(wanted.size());
    for (const std::string& name : wanted) {
        auto it = channels_.find(name);
        if (it != channels_.end() && it->second.position) {
            positions.push_back({name, *it->second.position, it->second.epoch});
        }
    }
    if (positions.empty()) return "";
    if (positions.size() == wanted.size()) return protocol::encodeCursor(positions);
    protocol::Cursor cursor;
    for (const auto& position : positions) {
        cursor.named.emplace_back(std::string(position.channel),
                                  protocol::StreamPosition{position.seq, std::string(position.epoch)});
    }
    return protocol::formatCursor(cursor);
}

// ---------------------------------------------------------------- delivery

void ClientCore::transportCursor(int generation, const std::string& text, const std::vector<std::string>& channels) {
    if (!isCurrent(generation)) return;
    authFailures_ = 0;  // the server answered with data: the token is good
    authTold_ = false;
    auto cursor = protocol::parseCursor(text);
    if (!cursor) return;
    auto positions = protocol::positionsFor(*cursor, channels);
    if (!positions) return;
    served(channels);
    if (closed_) return;
    // Only "from now" channels learn their position here; known positions move only
    // with delivered messages and gaps, which is what makes delivery exactly-once. A
    // position whose stream life was not known yet learns it.
    for (std::size_t i = 0; i < channels.size(); ++i) {
        const auto& position = (*positions)[i];
        if (!position) continue;
        auto it = channels_.find(channels[i]);
        if (it == channels_.end()) continue;
        ChannelState& state = it->second;
        if (!state.position) {
            state.position = position->seq;
            state.epoch = position->epoch;
            releaseHeld(channels[i]);
            startPresenceSnapshot(channels[i]);
        } else if (state.epoch.empty()) {
            state.epoch = position->epoch;
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
        needPresenceSnapshot(envelope.channel);
        it = channels_.find(envelope.channel);
        if (it == channels_.end()) return;
    }
    const bool learned = !it->second.position;
    it->second.position = envelope.seq;
    if (learned) {
        releaseHeld(envelope.channel);
        startPresenceSnapshot(envelope.channel);
        it = channels_.find(envelope.channel);
        if (it == channels_.end()) return;
    }
    if (envelope.event != protocol::EntryEvent::Message) {
        // A join or leave: to onJoin/onLeave, never to onMessage. Its seq moved the
        // position like a message's, so the messages around it show no hole.
        presenceEntry(envelope.channel, envelope);
        return;
    }
    Message message{envelope.channel, envelope.seq, envelope.dataJson, envelope.timeMs};
    const bool byServer = it->second.byServer;
    std::vector<int> ids = it->second.subscriptions;
    for (int id : ids) {
        auto sub = subscriptions_.find(id);
        if (sub == subscriptions_.end() || !sub->second.onMessage) continue;
        MessageHandler handler = sub->second.onMessage;  // may unsubscribe itself
        handler(message);
        if (closed_) return;
    }
    // A channel the backend subscribed this client to: to the client's onMessage.
    if (byServer && serverMessage_) serverMessage_(message);
}

void ClientCore::transportGap(int generation, const protocol::Gap& gap) {
    if (!isCurrent(generation)) return;
    auto it = channels_.find(gap.channel);
    if (it == channels_.end()) return;
    ChannelState& state = it->second;
    if (gap.reason == protocol::GapReason::EpochChanged) {
        // The stream began a new life: its seqs start again from 1.
        if (!gap.epoch.empty() && state.epoch == gap.epoch && state.position == 0u) return;  // told already
        std::uint64_t from = state.position ? *state.position + 1 : gap.from;
        state.position = 0;
        state.epoch = gap.epoch;
        state.presence.snapshotSeq.reset();  // seqs of another life
        releaseHeld(gap.channel);
        emitGap(gap.channel, Gap{gap.channel, from, std::nullopt, "epoch_changed"});
        needPresenceSnapshot(gap.channel);
        return;
    }
    if (!gap.to) return;
    if (state.position && *gap.to <= *state.position) return;  // reported before
    std::uint64_t from = state.position ? std::max(gap.from, *state.position + 1) : gap.from;
    state.position = *gap.to;
    releaseHeld(gap.channel);
    emitGap(gap.channel, Gap{gap.channel, from, gap.to, "evicted"});
    needPresenceSnapshot(gap.channel);
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

void ClientCore::transportRequestError(int generation, const std::string& idJson, const protocol::Error& error,
                                       const std::string& channel) {
    auto it = idJson.empty() ? pendingPublishes_.end() : pendingPublishes_.find(idJson);
    if (it != pendingPublishes_.end()) {
        PublishCallback done = std::move(it->second);
        pendingPublishes_.erase(it);
        Error e = toError(error);
        done(std::nullopt, &e);
        return;
    }
    if (auto query = idJson.empty() ? presenceQueries_.end() : presenceQueries_.find(idJson);
        query != presenceQueries_.end()) {
        PresenceQuery refused = std::move(query->second);
        presenceQueries_.erase(query);
        Error e = toError(error);
        refused.done(nullptr, &e);
        return;
    }
    if (!channel.empty()) {
        if (isCurrent(generation)) refuseChannel(channel, error);
        return;
    }
    // Neither a publish nor a channel: every subscription hears it. A refused token: the
    // close that follows says it (recoverFromAuthFailure).
    if (error.code != protocol::ErrorCode::Unauthorized && error.code != protocol::ErrorCode::TokenExpired &&
        error.code != protocol::ErrorCode::TokenRevoked) {
        tellEverySubscription(toError(error));
    }
}

void ClientCore::served(const std::vector<std::string>& channels) {
    if (!subscribed_) return;
    std::vector<int> ids;
    for (const std::string& name : channels) {
        auto it = channels_.find(name);
        if (it == channels_.end()) continue;
        for (int id : it->second.subscriptions) {
            auto sub = subscriptions_.find(id);
            if (sub == subscriptions_.end() || sub->second.served) continue;
            sub->second.served = true;
            ids.push_back(id);
        }
    }
    for (int id : ids) {
        if (closed_) return;
        if (subscriptions_.count(id)) subscribed_(id);
    }
}

void ClientCore::tellEverySubscription(const Error& error) {
    std::vector<int> ids;  // a handler may unsubscribe (itself or others)
    ids.reserve(subscriptions_.size());
    for (const auto& entry : subscriptions_) ids.push_back(entry.first);
    for (int id : ids) {
        auto sub = subscriptions_.find(id);
        if (sub == subscriptions_.end() || !sub->second.options.onError) continue;
        ErrorHandler handler = sub->second.options.onError;  // may unsubscribe itself
        handler(error);
    }
}

void ClientCore::refuseChannel(const std::string& channel, const protocol::Error& error) {
    if (!channels_.count(channel)) return;
    auto ended = dropChannel(channel);
    if (transport_) transport_->channelsChanged({}, {channel});
    Error e = toError(error);
    for (auto& [id, sub] : ended) {
        if (sub.options.onError) sub.options.onError(e);
    }
}

}  // namespace pushwire::client
