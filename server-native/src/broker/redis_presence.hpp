// Presence on Redis: every node of one Redis sees the same members, and a node that dies
// (kill -9, a lost machine) is seen leaving by the others (docs/scaling.md, Presence).
//
// Keys (P: --broker-prefix; {c}: the channel's hash tag, beside its stream):
//   P:{c}:pm          hash client -> "<node id> <member JSON>"
//   P:{c}:pu          hash user -> its members (distinct non-empty users: HLEN - 1)
// Both keep a placeholder field '' -> '' (not counted) while the channel's presence lives,
// so that they exist whenever a script names them (a Redis Cluster slot being migrated
// refuses a command one of whose keys is missing on its side: TRYAGAIN).
//   P:{presence}:nodes          sorted set node id -> its last heartbeat (Redis' clock, ms)
//   P:{presence}:node:<id>:ch   set of the channels where the node has (or had) members
//   P:{presence}:reaper         lock: one node reaps at a time
// Joins and leaves go in batches (the PresenceTracker's: at most 128 changes, of any
// channels): one Lua script per batch changes the member hashes AND appends each change's
// entry to its channel's stream (seq, XADD, pub/sub announcement, as a publish does), in
// order: entries of all nodes are ordered with the messages. A batch with joins first adds
// their channels to the node's channel set (SADD, pipelined ahead). A snapshot reads
// members, counts and the stream's head in one script.
//
// Node death. Each node refreshes itself every ttl/3 with ONE round trip (one script:
// ZADD P:nodes with Redis' time, PEXPIRE of its channel set, and, when it gets the
// reaper's SET NX lock, the nodes whose heartbeat is older than --presence-ttl), whatever
// its number of members or channels: members are not refreshed one by one. For each dead
// node it removes that node's members channel by channel with a script that appends
// their leave entries (announce as --join-leave says), then forgets the node. So a node killed with kill -9 has left
// everywhere within ttl + ttl/3 of its last heartbeat (ttl 30 s: about 40 s at most, 30 s typically).
//
// A node that was cut off from Redis for longer than the TTL is reaped too; its next
// heartbeat sees itself added anew and calls onReaped(): the server joins its members
// again.
//
// Where the keys live (Route): one Redis holds them all (one RedisBroker: --broker
// redis://, or one shard of several, each with its own registry), or a Redis Cluster: the
// node keys share one hash tag ({presence}), so the heartbeat is one script on the master of
// that slot (`home`), and each channel's keys are on its own slot's master (`channel`): the
// node's channel set is written by its own command there, a batch's script is sent to the
// channel's master and must name channels of one slot only (broker/routed_presence.hpp
// splits batches by slot), the reaper reads the dead node's channel set at home and removes
// its members channel by channel, each on that channel's master.
//
// Threading: the loop thread.
#pragma once

#include <asio.hpp>
#include <functional>
#include <optional>

#include "broker/presence.hpp"
#include "broker/redis_broker.hpp"

namespace pushwire::server {

class RedisPresence final : public Presence {
public:
    struct Options {
        std::chrono::milliseconds ttl{30000};
        // Whether a channel's joins and leaves are entries of its stream (for the reaper,
        // which removes members of any channel).
        std::function<bool(const std::string& channel)> announces;
        // Time of entries appended by this node (ms since the Unix epoch).
        std::function<std::int64_t()> clock;
    };
    // Which RedisBroker holds what (each call asks again: a cluster's masters change).
    struct Route {
        std::function<RedisBroker&()> home;                          // the node keys
        std::function<RedisBroker&(const std::string& channel)> of;  // a channel's keys
        // To every Redis (RedisBroker::addScript).
        std::function<void(const std::string& name, std::string lua, CommandHealth::Kind kind)> addScript;
        std::function<void()> moved;  // a command was answered MOVED (the map is stale); may be empty
    };
    // Registers its scripts with `broker`: make it before broker.start().
    RedisPresence(asio::io_context& io, RedisBroker& broker, Options options);
    RedisPresence(asio::io_context& io, Route route, Options options);
    ~RedisPresence() override;

    // Starts heartbeats and the reaper (after broker.start()).
    void start();
    void stop();

    void join(const std::string& channel, const Member& member, bool announce, ChangeDone done) override;
    void leave(const std::string& channel, const std::string& client, bool announce, ChangeDone done) override;
    // One script (one round trip) for the whole batch; see the class comment.
    void apply(std::vector<Change> changes, BatchDone done) override;
    void snapshot(const std::string& channel, std::size_t maxMembers, SnapshotDone done) override;
    void counts(const std::string& channel, CountsDone done) override;

    // Called when this node finds it was taken for dead and its members removed.
    void onReaped(std::function<void()> handler) { onReaped_ = std::move(handler); }

    // For /pushwire/metrics: heartbeats done, and the Redis round trips they took (one each).
    std::uint64_t refreshes() const { return refreshes_; }
    std::uint64_t refreshRoundTrips() const { return refreshRoundTrips_; }
    std::uint64_t nodesReaped() const { return nodesReaped_; }
    std::uint64_t membersReaped() const { return membersReaped_; }
    // Scripts sent with joins and leaves (one per batch).
    std::uint64_t batches() const { return batches_; }

private:
    void tick();
    void heartbeat();
    void reapNode(const std::string& node);
    void one(Change change, ChangeDone done);
    std::string nodeChannelsKey(const std::string& node) const;
    std::vector<std::string> channelKeys(const std::string& channel) const;
    RedisBroker& home() const { return route_.home(); }
    RedisBroker& of(const std::string& channel) const { return route_.of(channel); }
    // Tells the route when a reply was MOVED.
    void check(const RedisValue* reply) const;

    asio::io_context& io_;
    Route route_;
    std::string nodeId_;  // this process, in every Redis (the home part's id when made)
    Options options_;
    asio::steady_timer timer_;
    std::function<void()> onReaped_;
    bool stopped_ = false;
    bool beating_ = false;
    bool beaten_ = false;  // a heartbeat was answered
    std::uint64_t batches_ = 0;
    std::uint64_t refreshes_ = 0;
    std::uint64_t refreshRoundTrips_ = 0;
    std::uint64_t nodesReaped_ = 0;
    std::uint64_t membersReaped_ = 0;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace pushwire::server
