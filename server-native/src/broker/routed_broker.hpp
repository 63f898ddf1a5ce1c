// Brokers over several Redis: each channel lives on one of them, and every call about a
// channel goes to that one's RedisBroker (its scripts, its subscriber, its checks: all
// that RedisBroker does for one Redis, it does for its part). Docs: docs/scaling.md.
//
//   ShardedBroker  --broker redis://a:6379,redis://b:6379,...: independent Redis; a
//                  channel's shard is the jump consistent hash of the 64-bit FNV-1a hash
//                  of its name (as Centrifugo): adding a shard to n moves ~1/(n+1) of the
//                  channels, and a moved channel starts a new life (epoch) there.
//   ClusterBroker  --broker redis+cluster://seed,...: Redis Cluster, one RedisBroker per
//                  master (broker/cluster_broker.hpp).
//
// A part that is down makes only its channels answer broker_unavailable: the broker as a
// whole is available while any part is (parts() says which is which). A part that is up
// but whose recent commands fail (broker/command_health.hpp) is reported beside those that
// are down: the broker is healthy while any part is up and not failing. Listing channels
// walks the parts in turn (the cursor is "<part>:<that part's cursor>").
//
// Threading: the loop thread.
#pragma once

#include <asio.hpp>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "app/options.hpp"
#include "broker/broker.hpp"
#include "broker/redis_broker.hpp"

namespace pushwire::server {

// Jump consistent hash (Lamping and Veach, 2014): the bucket of `key` among `buckets`.
std::size_t jumpConsistentHash(std::uint64_t key, std::size_t buckets);
std::uint64_t fnv1a64(std::string_view text);

class RoutedBroker : public Broker {
public:
    ~RoutedBroker() override;

    void setHandler(BrokerEventHandler* handler) override { handler_ = handler; }
    void start() override;
    void stop() override;
    void publish(const std::string& channel, std::string dataJson, std::int64_t timeMs, PublishDone done) override;
    void publishOnce(const std::string& channel, std::string dataJson, std::int64_t timeMs,
                     const std::string& idempotencyKey, PublishDone done) override;
    void history(const HistoryQuery& query, HistoryDone done) override;
    void channels(const ChannelListQuery& query, ChannelListDone done) override;
    void follow(const std::string& channel) override;
    void unfollow(const std::string& channel) override;
    bool available() const override;
    bool healthy() const override;
    std::string state() const override;
    BrokerStats stats() const override;
    std::vector<BrokerPart> parts() const override;
    bool historyIsLocal() const override { return false; }

    // The RedisBroker that holds `channel` now (for RedisPresence over the parts).
    RedisBroker& partOf(const std::string& channel) { return *children_[route(channel)].broker; }
    // Every part made so far, in order (index: the part's number; for presence).
    std::size_t partCount() const { return children_.size(); }
    RedisBroker& part(std::size_t index) { return *children_[index].broker; }
    const RedisBroker& part(std::size_t index) const { return *children_[index].broker; }
    std::size_t partIndexOf(const std::string& channel) const { return route(channel); }
    // A Lua script loaded on every part, those made later too (RedisBroker::addScript; call
    // before start()).
    void addScript(const std::string& name, const std::string& lua, CommandHealth::Kind kind);

protected:
    RoutedBroker(asio::io_context& io, const BrokerOptions& options, std::size_t historySize);

    // The part that holds `channel`.
    virtual std::size_t route(const std::string& channel) const = 0;
    // Whether a failed call may be tried again once the routes were refreshed (a cluster's
    // MOVED: the command did not run), and the refresh; `next` runs once it is done.
    virtual bool retryable(const protocol::Error&) const { return false; }
    virtual void refreshThen(std::function<void()> next) { next(); }
    // Whether part `index` holds channels now (a cluster's former masters do not).
    virtual bool active(std::size_t index) const { return index < children_.size(); }

    // Adds a part for this endpoint (started when the broker is); its index.
    std::size_t addPart(const BrokerOptions& endpoint);
    // Called for each part made, before it starts.
    virtual void prepare(RedisBroker&) {}
    // The options of a part at `endpoint`: its URL's, with the flags given for every part
    // (TLS files, password, --broker-wait, the prefix) where the URL names none.
    BrokerOptions partOptions(const BrokerOptions& endpoint) const;
    // Moves followed channels whose route changed to their new part (a cluster after a
    // failover or a reshard): unfollowed there, followed here (onFollow tells the head).
    void reroute();
    void retire(std::size_t index);
    void childAvailability();

    asio::io_context& io_;
    BrokerOptions options_;
    std::size_t historySize_;
    bool started_ = false;
    bool stopped_ = false;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

private:
    struct Relay;
    struct Child {
        std::unique_ptr<RedisBroker> broker;
        std::unique_ptr<Relay> relay;
        bool retired = false;
    };

    // `again`: sent again after MOVED.
    void publishTo(const std::string& channel, std::shared_ptr<std::string> data, std::int64_t timeMs,
                   const std::string& idempotencyKey, PublishDone done, bool again);
    void historyFrom(const HistoryQuery& query, HistoryDone done, bool again);

    BrokerEventHandler* handler_ = nullptr;
    std::vector<Child> children_;
    std::map<std::string, std::size_t> followed_;  // channel -> the part that follows it for us
    struct Script {
        std::string name, lua;
        CommandHealth::Kind kind;
    };
    std::vector<Script> scripts_;  // addScript's, for parts made later
    bool lastAvailable_ = false;
};

class ShardedBroker final : public RoutedBroker {
public:
    // `shards`: one endpoint each, in the order given (the order is the hash's: keep it).
    ShardedBroker(asio::io_context& io, const BrokerOptions& options, std::size_t historySize);
    std::string describe() const override;

private:
    std::size_t route(const std::string& channel) const override;
};

}  // namespace pushwire::server
