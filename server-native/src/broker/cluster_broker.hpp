// The broker on a Redis Cluster (--broker redis+cluster://seed[,seed...]): one RedisBroker
// per master, each channel on the master that owns its slot. Docs: docs/scaling.md. Over TLS
// (rediss+cluster://, or rediss:// seeds) every master found is reached as the seeds are, at
// the port CLUSTER SLOTS gives a TLS connection (the node's tls-port).
//
// Every key of a channel carries the hash tag {channel} (P:{c}:m, P:{c}:s, P:{c}:p, ...):
// one slot, so a publish stays one atomic script on one master, and the channel's sharded
// pub/sub (SSUBSCRIBE / SPUBLISH, Redis 7) lives on that master too: a publication reaches
// only the nodes that subscribed to it there. Channel names cannot hold braces, and a
// prefix with one is refused (it would become the tag).
//
// The slot map comes from CLUSTER SLOTS, asked of a known master or a seed: at start,
// every 5 s, every second while a part is down (a master lost: its replica is promoted
// within cluster-node-timeout and an election), and at once when a command is answered
// MOVED (the command did not run: it is sent again, once, to the slot's new owner). A
// master that appears gets its RedisBroker; followed channels whose slot moved are
// followed again on their new master (the hub gets onFollow with the stream's head there);
// a former master's RedisBroker is stopped. Every command (publish, history, a followed
// channel's reads, presence) answered ASK (its slot is being migrated, its keys not on the
// source) is sent once to the master named, preceded by ASKING on the same connection;
// TRYAGAIN (a channel's keys split between the two for the moment of a MIGRATE) is sent
// again after 50 ms, up to 20 times: each master's commands connection does it
// (RedisConnection::onRedirect), reaching the ASK's target through its part (made when
// the target is a master not known yet).
// A channel's keys moved by a reshard keep their life (epoch, seqs, history) on the target:
// the scripts there take over the life of a channel whose `r` is one of liveMasters()
// (life() in redis_broker.cpp), unlike a promoted replica's.
//
// Threading: the loop thread.
#pragma once

#include <asio.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "broker/redis_connection.hpp"
#include "broker/routed_broker.hpp"

namespace pushwire::server {

// The Redis Cluster slot of `key` (CRC16 of its hash tag, or of the key without one).
std::uint16_t clusterSlot(std::string_view key);

class ClusterBroker final : public RoutedBroker {
public:
    // The seeds are options.shards (each host:port).
    ClusterBroker(asio::io_context& io, const BrokerOptions& options, std::size_t historySize);
    ~ClusterBroker() override;

    void start() override;
    void stop() override;
    std::string describe() const override;

    // How to reach each seed (TLS, ACL user, password as a part's): for the server API's
    // own connections (api/cluster_control.hpp).
    std::vector<RedisEndpoint> seedEndpoints() const;

    // A command sent by another module (presence) was answered MOVED: the map is read again.
    void moved() { refresh(); }

    // Slot map reads done (for tests and the metrics).
    std::uint64_t refreshes() const { return refreshes_; }

private:
    std::size_t route(const std::string& channel) const override;
    bool retryable(const protocol::Error& error) const override;
    void refreshThen(std::function<void()> next) override;
    bool active(std::size_t index) const override;
    void prepare(RedisBroker& part) override;
    // The part at "host:port" (an ASK names one), made when there is none.
    std::optional<std::size_t> partAt(const std::string& address);
    // The run_ids of the masters of the current slot map whose commands connection is
    // ready, comma-separated (what a migrated channel's life may come from).
    std::string liveMasters() const;

    void refresh();
    void tryRefresh(std::vector<RedisEndpoint> candidates, std::size_t at);
    bool apply(const RedisValue& slots, const RedisEndpoint& asked);
    void finishRefresh();
    void tick();

    std::vector<std::uint16_t> owner_;            // slot -> part index; kNone until known
    std::map<std::string, std::size_t> masters_;  // "host:port" -> part index
    std::vector<bool> owns_;                      // part index -> owns a slot now
    bool mapped_ = false;
    bool refreshing_ = false;
    bool again_ = false;  // asked to refresh while one was running
    std::vector<std::function<void()>> waiting_;
    std::unique_ptr<RedisConnection> asker_;
    asio::steady_timer timer_;
    std::chrono::steady_clock::time_point lastRefresh_{};
    std::uint64_t refreshes_ = 0;
};

}  // namespace pushwire::server
