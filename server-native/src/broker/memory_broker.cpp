#include "broker/memory_broker.hpp"

#include <algorithm>
#include <chrono>
#include <random>

namespace pushwire::server {

using protocol::Error;
using protocol::ErrorCode;
using protocol::Gap;
using protocol::GapReason;

namespace {

const char* const kHex = "0123456789abcdef";

std::int64_t nowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

std::uint64_t randomBits() {
    std::random_device device;
    return (static_cast<std::uint64_t>(device()) << 32) ^ device() ^
           static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
}

std::string epochText(std::uint64_t bits) {
    std::string out(16, '0');
    for (int i = 15; i >= 0; --i, bits >>= 4) out[static_cast<std::size_t>(i)] = kHex[bits & 15];
    return out;
}

std::string randomEpoch() { return epochText(randomBits()); }

MemoryBroker::MemoryBroker(Options options)
    : historySize_(std::max<std::size_t>(1, options.historySize)),
      maxChannels_(options.maxChannels),
      maxHistoryBytes_(options.maxHistoryBytes),
      channelTtlMs_(options.channelTtlMs),
      epoch_(options.epoch.empty() ? randomEpoch() : std::move(options.epoch)),
      keys_(options.idempotencyWindowMs, options.maxIdempotencyKeys) {}

// Generation 0 is the process's epoch itself; later ones append the generation in hex
// (an epoch is at most 32 hex digits: 16 + at most 16).
std::string MemoryBroker::currentEpoch() const {
    if (generation_ == 0) return epoch_;
    std::string out = epoch_.substr(0, 16);
    std::string digits;
    for (std::uint64_t g = generation_; g; g >>= 4) digits.insert(digits.begin(), kHex[g & 15]);
    return out + digits;
}

MemoryBroker::Channels::iterator MemoryBroker::channel(const std::string& name, std::int64_t now, bool mayRefuse) {
    auto it = channels_.find(name);
    if (it != channels_.end()) return it;
    if (maxChannels_ > 0 && channels_.size() >= maxChannels_) {
        if (!idle_.empty()) {
            ++limitStats_.channelsEvicted;
            drop(idle_.front());
        } else if (mayRefuse) {
            ++limitStats_.channelsRefused;
            return channels_.end();
        }
        // Only a follow() nobody admit()ted gets here: it goes over the limit.
    }
    it = channels_.emplace(name, Channel{}).first;
    it->second.epoch = currentEpoch();
    it->second.activeMs = now;
    it->second.idle = idle_.insert(idle_.end(), it);
    return it;
}

void MemoryBroker::drop(Channels::iterator it, bool newLife) {
    Channel& channel = it->second;
    if (!channel.history.empty()) oldest_.erase({channel.history.front().order, &channel});
    historyBytes_ -= channel.bytes;
    if (!channel.followed) idle_.erase(channel.idle);
    channels_.erase(it);
    if (newLife) ++generation_;  // the next channel made, this one included, is of a new life
}

void MemoryBroker::popOldest(Channel& channel) {
    const bool tracked = maxHistoryBytes_ > 0;
    if (tracked) oldest_.erase({channel.history.front().order, &channel});
    const std::size_t size = channel.history.front().message->envelope.size() + kMessageOverhead;
    channel.bytes -= size;
    historyBytes_ -= size;
    channel.history.pop_front();
    if (tracked && !channel.history.empty()) oldest_.insert({channel.history.front().order, &channel});
}

void MemoryBroker::trimHistoryBytes() {
    while (historyBytes_ > maxHistoryBytes_ && !oldest_.empty()) {
        ++limitStats_.messagesEvicted;
        popOldest(*oldest_.begin()->second);
    }
}

void MemoryBroker::markIdle(Channels::iterator it, std::int64_t now) {
    it->second.activeMs = now;
    if (!it->second.followed) idle_.splice(idle_.end(), idle_, it->second.idle);
}

void MemoryBroker::publish(const std::string& name, std::string dataJson, std::int64_t timeMs, PublishDone done) {
    publishOnce(name, std::move(dataJson), timeMs, std::string(), std::move(done));
}

void MemoryBroker::publishOnce(const std::string& name, std::string dataJson, std::int64_t timeMs,
                               const std::string& idempotencyKey, PublishDone done) {
    if (const IdempotencyKeys::Stored* stored = keys_.find(name, idempotencyKey, timeMs)) {
        auto repeat = std::make_shared<Message>();
        repeat->channel = name;
        repeat->seq = stored->seq;
        repeat->timeMs = stored->timeMs;
        repeat->repeated = true;
        auto found = channels_.find(name);
        if (found != channels_.end()) repeat->epoch = found->second.epoch;
        done(MessagePtr(std::move(repeat)));
        return;
    }
    append(
        name, timeMs, idempotencyKey, protocol::EntryEvent::Message,
        [&](std::uint64_t seq) {
            return protocol::encodeEnvelope(protocol::Envelope{name, seq, std::move(dataJson), timeMs});
        },
        std::move(done));
}

void MemoryBroker::appendEntry(const std::string& name, protocol::EntryEvent event, const std::string& memberJson,
                               std::int64_t timeMs, PublishDone done) {
    append(
        name, timeMs, std::string(), event,
        [&](std::uint64_t seq) { return protocol::encodeJoinLeaveEntry(name, seq, event, memberJson, timeMs); },
        std::move(done));
}

StreamHead MemoryBroker::head(const std::string& name) const {
    auto it = channels_.find(name);
    if (it == channels_.end()) return StreamHead{currentEpoch(), 0};
    return StreamHead{it->second.epoch, it->second.lastSeq};
}

template <typename Encode>
void MemoryBroker::append(const std::string& name, std::int64_t timeMs, const std::string& idempotencyKey,
                          protocol::EntryEvent event, Encode encode, PublishDone done) {
    auto it = channel(name, timeMs, true);
    if (it == channels_.end()) {
        done(Error{ErrorCode::Overloaded, "the server holds its maximum of " + std::to_string(maxChannels_) +
                                              " channels, all with subscribers (--max-channels)"});
        return;
    }
    Channel& channel = it->second;
    markIdle(it, timeMs);
    auto message = std::make_shared<Message>();
    message->channel = name;
    message->seq = ++channel.lastSeq;
    message->epoch = channel.epoch;
    message->timeMs = timeMs;
    message->event = event;
    message->envelope = encode(message->seq);
    MessagePtr shared = std::move(message);
    const std::size_t size = shared->envelope.size() + kMessageOverhead;
    const std::uint64_t order = ++order_;
    if (maxHistoryBytes_ > 0 && channel.history.empty()) oldest_.insert({order, &channel});
    channel.history.push_back(Held{shared, order});
    channel.bytes += size;
    historyBytes_ += size;
    if (channel.history.size() > historySize_) popOldest(channel);
    if (maxHistoryBytes_ > 0) trimHistoryBytes();
    keys_.remember(name, idempotencyKey, IdempotencyKeys::Stored{shared->seq, timeMs}, timeMs);
    if (channel.followed && handler_) handler_->onPublication(shared);
    done(std::move(shared));
}

void MemoryBroker::channels(const ChannelListQuery& query, ChannelListDone done) {
    ChannelList page;
    auto it = query.cursor.empty() ? channels_.begin() : channels_.upper_bound(query.cursor);
    for (; it != channels_.end(); ++it) {
        if (query.matches && !query.matches(it->first)) continue;
        if (page.channels.size() == query.limit) {
            page.next = page.channels.back();  // names sort: the next page starts after it
            break;
        }
        page.channels.push_back(it->first);
    }
    done(std::move(page));
}

void MemoryBroker::history(const HistoryQuery& query, HistoryDone done) {
    HistoryPage page;
    auto it = channels_.find(query.channel);
    if (it == channels_.end()) {
        // No life now: a position at 0 of any life is where the next life starts (the
        // client missed nothing), so it is not told of a change on every poll.
        page.head.epoch = query.after == 0 && !query.epoch.empty() ? query.epoch : currentEpoch();
        page.head.seq = 0;
        page.epochChanged = !query.epoch.empty() && query.epoch != page.head.epoch;
        done(std::move(page));
        return;
    }
    const Channel& channel = it->second;
    page.head.epoch = channel.epoch;
    page.head.seq = channel.lastSeq;
    if (!query.epoch.empty() && query.epoch != channel.epoch) {
        page.epochChanged = true;
        done(std::move(page));
        return;
    }
    std::uint64_t after = std::min(query.after, page.head.seq);
    if (after >= channel.lastSeq) {
        done(std::move(page));
        return;
    }
    const std::uint64_t firstHeld =
        channel.history.empty() ? channel.lastSeq + 1 : channel.history.front().message->seq;
    if (after + 1 < firstHeld) {
        page.gap = Gap{query.channel, after + 1, firstHeld - 1, GapReason::HistoryEvicted, ""};
        after = firstHeld - 1;
    }
    // History is contiguous: the message after `after` sits at a known index.
    std::size_t index = static_cast<std::size_t>(after + 1 - firstHeld);
    std::size_t bytes = 0;
    if (index < channel.history.size()) {  // one allocation for the page (a byte cap may stop it short)
        page.messages.reserve(std::min<std::size_t>(channel.history.size() - index, query.limit));
    }
    for (; index < channel.history.size() && page.messages.size() < query.limit; ++index) {
        const MessagePtr& message = channel.history[index].message;
        if (!page.messages.empty() && bytes + message->envelope.size() > query.maxBytes) break;
        bytes += message->envelope.size();
        page.messages.push_back(message);
    }
    page.more = index < channel.history.size();
    done(std::move(page));
}

bool MemoryBroker::admit(const std::string& name) { return channel(name, nowMs(), true) != channels_.end(); }

void MemoryBroker::follow(const std::string& name) {
    auto it = channel(name, nowMs(), false);
    Channel& channel = it->second;
    if (!channel.followed) {
        idle_.erase(channel.idle);
        channel.followed = true;
    }
    if (handler_) handler_->onFollow(name, StreamHead{channel.epoch, channel.lastSeq});
}

void MemoryBroker::unfollow(const std::string& name) {
    auto it = channels_.find(name);
    if (it == channels_.end() || !it->second.followed) return;
    it->second.followed = false;
    it->second.activeMs = nowMs();
    it->second.idle = idle_.insert(idle_.end(), it);
    // Made by subscribers alone: nothing to keep. Its life had no message, so a position in
    // it (seq 0) fits the next life too: no new epoch.
    if (it->second.lastSeq == 0) drop(it, false);
}

void MemoryBroker::sweep(std::int64_t now) {
    keys_.sweep(now);
    if (channelTtlMs_ <= 0) return;
    const std::int64_t cutoff = now - channelTtlMs_;
    // idle_ is in order of activity: the first one young enough ends the sweep.
    while (!idle_.empty() && idle_.front()->second.activeMs <= cutoff) {
        ++limitStats_.channelsExpired;
        drop(idle_.front());
    }
}

}  // namespace pushwire::server
