// Presence over several Redis.
//
// Independent shards (--broker redis://a,redis://b --presence ...): one
// RedisPresence per shard, each with its own node registry, heartbeats and reaper on its
// shard, and each channel's members on the channel's shard, beside its stream, so that a
// change and its join/leave entry stay one script there. A batch of changes is split by
// shard (one script per shard it touches), the answers put back in the batch's order.
// A node killed with kill -9 is reaped on every shard (each shard's reaper removes that
// node's members of that shard's channels). Docs: docs/scaling.md.
//
// A Redis Cluster (--broker redis+cluster://... --presence ...): ONE RedisPresence, one
// registry: its node keys (P:{presence}:...) on the master of the {presence} slot, each
// channel's members on the master of the channel's slot (RedisPresence::Route asks the
// ClusterBroker's slot map at every call, so a failover or a reshard is followed). A batch
// is split by slot (a script may name keys of one slot only). A node killed with kill -9
// is reaped once, by the one reaper, channel by channel on each channel's master. A
// command answered MOVED makes the broker read the slot map again; the tracker sends the
// failed batch again.
//
// Threading: the loop thread.
#pragma once

#include <asio.hpp>
#include <memory>
#include <vector>

#include "broker/redis_presence.hpp"
#include "broker/routed_broker.hpp"

namespace pushwire::server {

class RoutedPresence final : public Presence {
public:
    // One RedisPresence per part of `broker` (make it before broker.start()).
    RoutedPresence(asio::io_context& io, RoutedBroker& broker, const RedisPresence::Options& options);

    void start();
    void stop();
    // Any shard found this node taken for dead.
    void onReaped(std::function<void()> handler);

    void join(const std::string& channel, const Member& member, bool announce, ChangeDone done) override;
    void leave(const std::string& channel, const std::string& client, bool announce, ChangeDone done) override;
    void apply(std::vector<Change> changes, BatchDone done) override;
    void snapshot(const std::string& channel, std::size_t maxMembers, SnapshotDone done) override;
    void counts(const std::string& channel, CountsDone done) override;

    // Summed over the shards (for /pushwire/metrics).
    std::uint64_t refreshes() const;
    std::uint64_t refreshRoundTrips() const;
    std::uint64_t nodesReaped() const;
    std::uint64_t membersReaped() const;

private:
    RedisPresence& of(const std::string& channel) { return *parts_[cluster_ ? 0 : broker_.partIndexOf(channel)]; }
    // What a batch is split by: the shard, or the cluster slot.
    std::size_t group(const std::string& channel) const;

    RoutedBroker& broker_;
    bool cluster_ = false;
    std::vector<std::unique_ptr<RedisPresence>> parts_;
};

}  // namespace pushwire::server
