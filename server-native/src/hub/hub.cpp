#include "hub/hub.hpp"

#include <algorithm>
#include <chrono>

#include "pushwire/protocol/channel_name.hpp"

namespace pushwire::server {

using protocol::Error;
using protocol::ErrorCode;

Hub::Hub(Broker& broker, Options options)
    : broker_(broker),
      recentWindow_(options.recentWindow),
      epoch_(std::move(options.epoch)),
      clock_(std::move(options.clock)),
      followLingerMs_(options.followLingerMs),
      maxChannels_(options.maxChannels) {
    broker_.setHandler(this);
}

Hub::~Hub() { broker_.setHandler(nullptr); }

std::int64_t Hub::now() const {
    if (clock_) return clock_();
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

Hub::Channel* Hub::find(std::string_view name) {
    auto it = channels_.find(name);
    return it == channels_.end() ? nullptr : &it->second;
}

const Hub::Channel* Hub::find(std::string_view name) const {
    auto it = channels_.find(name);
    return it == channels_.end() ? nullptr : &it->second;
}

void Hub::publish(std::string_view channel, std::string dataJson, Broker::PublishDone done) {
    publish(channel, std::move(dataJson), std::string(), std::move(done));
}

void Hub::publish(std::string_view channel, std::string dataJson, const std::string& idempotencyKey,
                  Broker::PublishDone done) {
    if (auto problem = protocol::channelNameProblem(channel)) {
        done(Error{ErrorCode::BadChannel, *problem});
        return;
    }
    std::string name(channel);
    // A full broker may be full of channels only lingering here: they go first. (Without
    // lingering channels there is nothing to let go, and no reason to ask.)
    if (!lingering_.empty()) makeRoom(name, false);
    broker_.publishOnce(name, std::move(dataJson), now(), idempotencyKey,
                        [this, done = std::move(done)](protocol::Result<MessagePtr> result) {
                            if (result) {
                                ++((*result)->repeated ? repeated_ : published_);
                                noteAcknowledged(**result);
                            }
                            done(std::move(result));
                        });
}

// A broker that answers a publish before its subscription delivers it (Redis) leaves the
// window behind the answer for a moment; the memory broker delivers first.
void Hub::noteAcknowledged(const Message& message) {
    auto it = channels_.find(message.channel);
    if (it == channels_.end()) return;
    Channel& channel = it->second;
    if (channel.holds(message.epoch, message.seq)) return;
    if (channel.ackedSeq != 0 && channel.ackedEpoch == message.epoch && channel.ackedSeq >= message.seq) return;
    channel.ackedSeq = message.seq;
    channel.ackedEpoch = message.epoch;
}

std::optional<Error> Hub::join(std::string_view name, Listener* listener) {
    auto it = channels_.find(name);
    if (it == channels_.end()) {
        std::string channelName(name);
        if (!makeRoom(channelName, true)) {
            return Error{ErrorCode::Overloaded,
                         "cannot subscribe to '" + channelName + "': the server holds its maximum of " +
                             std::to_string(maxChannels_) +
                             " channels, all with subscribers (--max-channels); try again later"};
        }
        it = channels_.try_emplace(std::move(channelName)).first;
    }
    Channel& channel = it->second;
    channel.listeners.push_back(listener);
    ++listeners_;
    if (channel.idleSinceMs >= 0) {
        lingering_.erase(channel.lingering);
        channel.idleSinceMs = -1;
    }
    if (channel.listeners.size() == 1 && !channel.synced) {
        // The broker may answer before follow() returns: that first onFollow is the
        // joiner's to read with head(), not a notification.
        joining_ = it->first;
        broker_.follow(it->first);
        joining_.clear();
    }
    return std::nullopt;
}

bool Hub::makeRoom(const std::string& name, bool toFollow) {
    if (toFollow && maxChannels_ > 0 && channels_.size() >= maxChannels_) {
        if (lingering_.empty()) {
            ++refusedJoins_;  // the broker counts its own refusals
            return false;
        }
        unfollow(lingering_.front());
    }
    // The broker is full only of channels this node follows: the lingering ones may go.
    while (!broker_.admit(name)) {
        if (lingering_.empty()) return false;
        unfollow(lingering_.front());
    }
    return true;
}

void Hub::leave(std::string_view name, Listener* listener) {
    auto it = channels_.find(name);
    if (it == channels_.end()) return;
    Channel& channel = it->second;
    auto pos = std::find(channel.listeners.begin(), channel.listeners.end(), listener);
    if (pos == channel.listeners.end()) return;
    --listeners_;
    if (channel.fanningOut > 0) {
        *pos = nullptr;
        channel.hasHoles = true;
        return;  // the fan-out compacts, and lets the channel go if it is empty
    }
    *pos = channel.listeners.back();
    channel.listeners.pop_back();
    if (channel.listeners.empty()) released(it);
}

void Hub::released(Channels::iterator it) {
    if (followLingerMs_ > 0 && it->second.synced) {
        it->second.idleSinceMs = now();
        it->second.lingering = lingering_.insert(lingering_.end(), it);
        return;
    }
    unfollow(it);
}

void Hub::unfollow(Channels::iterator it) {
    if (it->second.idleSinceMs >= 0) lingering_.erase(it->second.lingering);
    broker_.unfollow(it->first);
    channels_.erase(it);
}

void Hub::sweep() {
    const std::int64_t cutoff = now() - followLingerMs_;
    // lingering_ is in the order the channels lost their last listener.
    while (!lingering_.empty() && lingering_.front()->second.idleSinceMs <= cutoff) unfollow(lingering_.front());
}

std::optional<StreamHead> Hub::head(std::string_view name) const {
    const Channel* channel = find(name);
    if (!channel || !channel->synced) return std::nullopt;
    StreamHead out = channel->head;
    if (channel->ackedSeq > out.seq && channel->ackedEpoch == out.epoch) out.seq = channel->ackedSeq;
    return out;
}

void Hub::read(const HistoryQuery& query, Broker::HistoryDone done) {
    const Channel* channel = find(query.channel);
    const bool sameLife = channel && channel->synced && (query.epoch.empty() || query.epoch == channel->head.epoch);
    const bool behindAnswer = channel && channel->ackedSeq != 0;
    const bool covered = sameLife && !behindAnswer && recentWindow_ > 0 &&
                         (query.after >= channel->head.seq ||
                          (!channel->recent.empty() && query.after + 1 >= channel->recent.front()->seq));
    if (!covered) {
        broker_.history(query, std::move(done));
        return;
    }
    HistoryPage page;
    page.head = channel->head;
    const std::uint64_t after = std::min(query.after, channel->head.seq);
    if (after < channel->head.seq) {
        std::size_t index = static_cast<std::size_t>(after + 1 - channel->recent.front()->seq);
        std::size_t bytes = 0;
        for (; index < channel->recent.size() && page.messages.size() < query.limit; ++index) {
            const MessagePtr& message = channel->recent[index];
            if (!page.messages.empty() && bytes + message->envelope.size() > query.maxBytes) break;
            bytes += message->envelope.size();
            page.messages.push_back(message);
        }
        page.more = index < channel->recent.size();
    }
    done(std::move(page));
}

template <typename Visit>
void Hub::forEachListener(Channel& channel, Visit visit) {
    // Index-based: a listener may leave (leaving a hole) while we iterate, and listeners
    // that join during the loop start after this event anyway.
    ++channel.fanningOut;
    const std::size_t count = channel.listeners.size();
    for (std::size_t i = 0; i < count; ++i) {
        if (Listener* listener = channel.listeners[i]) visit(*listener);
    }
    if (--channel.fanningOut == 0 && channel.hasHoles) {
        channel.listeners.erase(std::remove(channel.listeners.begin(), channel.listeners.end(), nullptr),
                                channel.listeners.end());
        channel.hasHoles = false;
    }
}

void Hub::onFollow(const std::string& name, const StreamHead& head) {
    auto it = channels_.find(name);
    if (it == channels_.end()) return;  // no longer followed
    Channel& channel = it->second;
    if (channel.synced && channel.head.epoch == head.epoch && channel.head.seq == head.seq) return;
    const bool sameRun = channel.synced && channel.head.epoch == head.epoch && !channel.recent.empty() &&
                         channel.recent.back()->seq == head.seq;
    if (!sameRun) channel.recent.clear();
    // An answered publish of the life the channel leaves will not come back in the new one.
    const bool leftAckedLife =
        channel.synced && channel.head.epoch != head.epoch && channel.ackedEpoch == channel.head.epoch;
    channel.synced = true;
    channel.head = head;
    if (channel.ackedSeq != 0 && (leftAckedLife || channel.holds(channel.ackedEpoch, channel.ackedSeq))) {
        channel.ackedSeq = 0;
    }
    if (name == joining_) return;
    forEachListener(channel, [&](Listener& listener) { listener.onFollow(name, head); });
    if (channel.listeners.empty() && channel.fanningOut == 0 && channel.idleSinceMs < 0) released(it);
}

void Hub::onPublication(const MessagePtr& message) {
    auto it = channels_.find(message->channel);
    if (it == channels_.end()) return;
    Channel& channel = it->second;
    if (!channel.synced || message->epoch != channel.head.epoch || message->seq <= channel.head.seq) return;
    // The broker delivers without holes after onFollow; should one appear, the window
    // starts over, and listeners read the rest from the broker.
    if (message->seq != channel.head.seq + 1) channel.recent.clear();
    channel.head.seq = message->seq;
    if (channel.ackedSeq != 0 && channel.holds(channel.ackedEpoch, channel.ackedSeq)) channel.ackedSeq = 0;
    if (recentWindow_ > 0) {
        channel.recent.push_back(message);
        if (channel.recent.size() > recentWindow_) channel.recent.pop_front();
    }
    if (!channel.listeners.empty()) {
        forEachListener(channel, [&](Listener& listener) { listener.onMessage(message); });
        // Once per message, not per delivery: the hot path pays one clock read.
        const double seconds = std::max<std::int64_t>(0, now() - message->timeMs) / 1000.0;
        std::size_t bucket = 0;
        while (bucket < kLatencyBucketCount && seconds > kLatencyBuckets[bucket]) ++bucket;
        ++publishToWrite_.counts[bucket];
        ++publishToWrite_.count;
        publishToWrite_.sumSeconds += seconds;
    }
    if (channel.listeners.empty() && channel.fanningOut == 0 && channel.idleSinceMs < 0) released(it);
}

void Hub::onAvailability(bool, const std::string&) {}

}  // namespace pushwire::server
