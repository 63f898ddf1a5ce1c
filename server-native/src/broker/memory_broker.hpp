// The embedded broker: seqs, history and fan-out in this process's memory, answered at
// once. The default (--broker memory).
//
// Memory stays bounded whatever clients do:
//   - at most `maxChannels` channels, however they come to exist: a new one (a publish,
//     or a follow the hub admit()ted) evicts the channel idle (no follower) the longest;
//     when every channel is followed, a publish to a new one or its admission is refused;
//   - a channel that never held a message goes as soon as its last follower leaves;
//   - at most `maxHistoryBytes` of history in all: past it the oldest message of any
//     channel goes first (a reader behind it gets a history_evicted gap);
//   - a channel with no follower and no message for `channelTtlMs` is dropped.
// A dropped channel that comes back starts a new life under a new epoch (the process's
// epoch plus a generation), so a client holding a position in the old life is told of
// it (epoch_changed) instead of silently skipping seqs it never got.
//
// Threading: the loop thread.
#pragma once

#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <set>
#include <string>

#include "broker/broker.hpp"
#include "broker/idempotency_keys.hpp"

namespace pushwire::server {

class MemoryBroker final : public Broker {
public:
    struct Options {
        std::size_t historySize = 1000;
        std::string epoch;                     // empty: a random one
        std::size_t maxChannels = 0;           // 0: no limit
        std::size_t maxHistoryBytes = 0;       // 0: no limit
        std::int64_t channelTtlMs = 0;         // 0: channels are never dropped for idleness
        std::int64_t idempotencyWindowMs = 0;  // 0: idempotency keys are ignored
        std::size_t maxIdempotencyKeys = 100000;
    };
    // What the limits did, for the metrics.
    struct LimitStats {
        std::uint64_t channelsEvicted = 0;  // at maxChannels
        std::uint64_t channelsRefused = 0;  // publishes and follows of a new channel, every channel followed
        std::uint64_t messagesEvicted = 0;  // at maxHistoryBytes
        std::uint64_t channelsExpired = 0;  // by the TTL
    };
    // Counted per held message on top of its envelope: the message, its pointer, its slot.
    static constexpr std::size_t kMessageOverhead = 128;

    explicit MemoryBroker(Options options);

    void setHandler(BrokerEventHandler* handler) override { handler_ = handler; }
    void start() override {}
    void stop() override {}
    void publish(const std::string& channel, std::string dataJson, std::int64_t timeMs, PublishDone done) override;
    void publishOnce(const std::string& channel, std::string dataJson, std::int64_t timeMs,
                     const std::string& idempotencyKey, PublishDone done) override;
    void history(const HistoryQuery& query, HistoryDone done) override;
    void channels(const ChannelListQuery& query, ChannelListDone done) override;
    // Appends a join or leave entry of `memberJson` to `channel`'s stream (the next seq,
    // delivered and kept like a message). For MemoryPresence.
    void appendEntry(const std::string& channel, protocol::EntryEvent event, const std::string& memberJson,
                     std::int64_t timeMs, PublishDone done);
    // Where `channel`'s stream stands now (seq 0 of the current life when it has none).
    StreamHead head(const std::string& channel) const;
    bool admit(const std::string& channel) override;
    void follow(const std::string& channel) override;
    void unfollow(const std::string& channel) override;
    bool available() const override { return true; }
    std::string describe() const override { return "memory"; }
    std::string state() const override { return "ok"; }
    bool historyIsLocal() const override { return true; }

    // Drops the channels idle for longer than the TTL, forgets idempotency keys whose
    // window ended. Called about once a second.
    void sweep(std::int64_t nowMs);

    const std::string& epoch() const { return epoch_; }
    std::size_t channelCount() const { return channels_.size(); }
    std::size_t historyBytes() const { return historyBytes_; }
    const LimitStats& limitStats() const { return limitStats_; }
    const IdempotencyKeys& idempotencyKeys() const { return keys_; }

private:
    struct Held {
        MessagePtr message;
        std::uint64_t order;  // publish order over all channels
    };
    struct Channel;
    using Channels = std::map<std::string, Channel, std::less<>>;
    struct Channel {
        std::string epoch;
        std::uint64_t lastSeq = 0;
        std::deque<Held> history;
        std::size_t bytes = 0;
        std::int64_t activeMs = 0;  // last publish, or when its last follower left
        bool followed = false;
        std::list<Channels::iterator>::iterator idle;  // its place in idle_ (unfollowed only)
    };

    // The channel, made if need be (evicting an idle one at maxChannels); end() when it
    // cannot be made (`mayRefuse` and every channel followed).
    Channels::iterator channel(const std::string& name, std::int64_t nowMs, bool mayRefuse);
    // `newLife`: the channel held messages, so the next channel made starts a new epoch.
    void drop(Channels::iterator it, bool newLife = true);
    void popOldest(Channel& channel);
    void trimHistoryBytes();
    void markIdle(Channels::iterator it, std::int64_t nowMs);
    // Stores the entry `encode(seq)` makes as the channel's next, and delivers it.
    template <typename Encode>
    void append(const std::string& name, std::int64_t timeMs, const std::string& idempotencyKey,
                protocol::EntryEvent event, Encode encode, PublishDone done);
    std::string currentEpoch() const;

    std::size_t historySize_;
    std::size_t maxChannels_;
    std::size_t maxHistoryBytes_;
    std::int64_t channelTtlMs_;
    std::string epoch_;
    std::uint64_t generation_ = 0;  // channels dropped so far: the epoch of channels made now
    std::uint64_t order_ = 0;
    std::size_t historyBytes_ = 0;
    BrokerEventHandler* handler_ = nullptr;
    Channels channels_;
    std::list<Channels::iterator> idle_;  // unfollowed channels, least recently active first
    // (order of its oldest held message, channel): the global oldest, when bytes are limited.
    std::set<std::pair<std::uint64_t, Channel*>> oldest_;
    LimitStats limitStats_;
    IdempotencyKeys keys_;
};

// 64 bits from std::random_device (and the clock). Each call constructs the device,
// which costs a CPUID (a trip to the hypervisor on a VM, tens of µs): for seeding, not
// for every message.
std::uint64_t randomBits();
// An epoch as written: 16 lowercase hex digits of `bits`.
std::string epochText(std::uint64_t bits);
// A fresh random epoch.
std::string randomEpoch();

}  // namespace pushwire::server
