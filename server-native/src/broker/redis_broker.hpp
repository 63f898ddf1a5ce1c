// The Redis broker: several pushwire servers on one Redis share every channel's seqs,
// history and fan-out (--broker redis://...). Docs: docs/scaling.md.
//
// Per channel, two keys and a pub/sub channel (P: --broker-prefix; {c}: the channel, a
// hash tag so a cluster keeps the three together):
//   P:{c}:m   hash: e = the stream's epoch, s = its last seq
//   P:{c}:s   stream of envelopes, entry ids "seq-0", trimmed to --history
//   P:{c}:p   (sharded) pub/sub: "epoch seq time\n" + envelope, for every publication
//   P:{c}:k:K "epoch seq time" of the message published with idempotency key K, kept
//             --idempotency-window: a publish repeating K stores nothing, on every node
//   P:{c}:o   the old life's stream, kept 5 minutes when a script on another Redis process
//             (a promoted replica) starts a new life (its epoch in the hash's `o`): a node
//             delivers what it holds after what it delivered before the new life begins
// One Lua script appends (epoch created when absent, seq assigned, stream trimmed and the
// publication announced in one step, so two nodes never assign one seq); another reads
// the position and history. A flushed or evicted channel gets a new epoch: subscribers
// are told with one epoch_changed gap, then delivery goes on. Both keys expire
// --channel-ttl after the channel's last publish or read (a followed channel is read by
// the periodic head check, so it stays while it has subscribers).
//
// Pub/sub is at most once. A node that sees seq N+2 after N, or whose periodic check of a
// followed channel's head finds it moved on without a publication, reads the hole from
// the stream before delivering on. A node whose subscriber connection goes silently
// deaf (a probe it publishes to itself every second does not come back within 3 s)
// reconnects; until then it reports itself unavailable. After any reconnect it reads
// every followed channel forward from what it last delivered.
//
// Threading: the loop thread. Two connections: commands, and the subscriber.
#pragma once

#include <asio.hpp>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>

#include "app/options.hpp"
#include "broker/broker.hpp"
#include "broker/command_health.hpp"
#include "broker/redis_connection.hpp"
#include "broker/sentinel_watch.hpp"

namespace pushwire::server {

class RedisBroker final : public Broker {
public:
    RedisBroker(asio::io_context& io, const BrokerOptions& options, std::size_t historySize);
    ~RedisBroker() override;

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
    // Follows `channel` having delivered it up to `delivered` (from the part that held it
    // before: a cluster's failed master): what this Redis holds after it is delivered, the
    // old life's rest too.
    void follow(const std::string& channel, const StreamHead& delivered);
    // What was delivered of a followed channel (none before its first sync).
    std::optional<StreamHead> delivered(const std::string& channel) const;
    bool available() const override { return available_; }
    // Available, and its recent commands not failing (broker/command_health.hpp).
    bool healthy() const override { return available_ && !health_.failing(); }
    bool failing() const { return available_ && health_.failing(); }
    std::string describe() const override;
    // What is wrong: the connection's state, or the failing commands' last error; "ok".
    std::string state() const override;
    bool historyIsLocal() const override { return false; }
    // A Redis Cluster's master: its commands connection follows ASK and TRYAGAIN through
    // `redirect` (RedisConnection::onRedirect), and its scripts may take over the lives of
    // channels whose keys came from the masters `liveMasters` lists (comma-separated
    // run_ids; see life() in redis_broker.cpp). `mapsHere` says whether the node's slot map
    // sends a slot to this master now: a MOVED for a slot it no longer does answers a
    // command sent before the map was read again, and is not this master's failure.
    // Before start().
    void clusterMaster(RedisConnection::Redirect redirect, std::function<std::string()> liveMasters,
                       std::function<bool(std::uint16_t slot)> mapsHere) {
        redirect_ = std::move(redirect);
        liveMasters_ = std::move(liveMasters);
        mapsHere_ = std::move(mapsHere);
    }
    // The node's slot map changed: MOVED answers counted so far were the stale map's.
    void slotMapChanged() { health_.forgetMoved(); }
    // The commands connection, when ready (an ASK's target); null otherwise.
    RedisConnection* commandsConnection() { return commandsReady_ ? commands_.get() : nullptr; }
    // The run_id of the Redis process the commands connection reaches ("" before).
    const std::string& runId() const { return runId_; }

    BrokerStats stats() const override;

    // For RedisPresence (broker/redis_presence.hpp), which keeps its keys beside the
    // channels' and appends to their streams in its own scripts:
    // A Lua script, loaded with the broker's own (call before start()). `kind`: whether it
    // writes or only reads, for CommandHealth (a Redis out of memory serves the second).
    void addScript(const std::string& name, std::string text, CommandHealth::Kind kind);
    // EVALSHA of a script by name (EVAL when Redis lost its script cache); null reply
    // when the commands connection is not ready.
    void runScript(const std::string& name, std::vector<std::string> keys, std::vector<std::string> args,
                   RedisConnection::Callback done);
    // A plain command on the commands connection (null reply when it is not ready).
    void command(const std::vector<std::string>& args, RedisConnection::Callback done);
    // P:{channel}:<kind>, and P:<rest>.
    std::string channelKey(const std::string& channel, const std::string& kind) const;
    std::string prefixed(const std::string& rest) const { return options_.prefix + ":" + rest; }
    const std::string& nodeId() const { return nodeId_; }
    const char* publishVerb() const { return sharded_ ? "SPUBLISH" : "PUBLISH"; }
    std::size_t historySize() const { return historySize_; }
    std::int64_t channelTtlMs() const { return options_.channelTtlMs; }
    std::string newEpoch();
    // What a script's life() gets: kSelf (the connection that writes it puts "<run_id of its
    // Redis process> <its master_replid> <adoptable run_ids>") and a new epoch.
    std::string lifeOffer();
    bool commandsReady() const { return commandsReady_; }
    const RedisEndpoint& endpoint() const { return endpoint_; }

private:
    struct Followed {
        enum class Stage { Subscribing, Syncing, Live } stage = Stage::Subscribing;
        bool known = false;  // epoch/seq below are what this node delivered last
        StreamHead head;
        bool filling = false;                         // a read of the stream is in flight
        bool tailRead = false;                        // the old life's rest was read (finishLife)
        std::map<std::uint64_t, MessagePtr> waiting;  // publications heard while filling
    };

    std::string selfText() const;
    void connectCommands();
    void connectSubscriber();
    void loadScripts(std::function<void(bool)> done);
    void refuse(RedisConnection* connection, const std::string& why, const char* event, bool misconfigured);
    void connectFailed(bool commands, const std::string& error);
    static std::string loadingState(const std::string& seen);
    void onCommandsLost(const std::string& why);
    void onSubscriberLost(const std::string& why);
    void retryLater(bool commands, bool now = false);
    void onMasterSwitched(const std::string& host, int port);
    void updateAvailability();
    void subscribeAll();
    void flushSubscriptions();
    void onPush(const RedisValue& push);
    void onPublished(const std::string& pubsubChannel, const std::string& payload);
    void sync(const std::string& channel);
    void deliver(const std::string& channel, Followed& followed, const MessagePtr& message);
    void drainWaiting(const std::string& channel);
    void finishLife(const std::string& channel);
    bool deliverHeard(const std::string& channel);
    void probe();
    void checkHeads();
    void readStream(const std::string& channel, std::uint64_t after, std::size_t limit, std::size_t maxBytes,
                    std::function<void(protocol::Result<HistoryPage>)> done);

    void awaitReplicas(const std::string& channel, std::string epoch, std::uint64_t seq, std::int64_t timeMs,
                       std::string envelope, PublishDone done);

    std::string key(const std::string& channel, char kind) const;
    // Counts a reply for `kind` (CommandHealth): an error reply, or a success.
    void noteReply(CommandHealth::Kind kind, const RedisValue* reply);
    // A script's last answer (after a NOSCRIPT, the EVAL's): counted, and READONLY (the
    // master was demoted) makes the commands connection go and find the master again.
    void scriptAnswered(CommandHealth::Kind kind, const RedisValue* reply);
    std::string channelOf(const std::string& pubsubChannel) const;

    asio::io_context& io_;
    BrokerOptions options_;
    std::size_t historySize_;
    RedisEndpoint endpoint_;
    BrokerEventHandler* handler_ = nullptr;
    std::unique_ptr<RedisConnection> commands_;
    std::unique_ptr<RedisConnection> subscriber_;
    std::unique_ptr<SentinelWatch> watch_;  // redis+sentinel://: +switch-master
    bool commandsReady_ = false;
    bool subscriberReady_ = false;
    bool sharded_ = false;  // Redis 7: SSUBSCRIBE / SPUBLISH
    struct Script {
        std::string text;  // Lua
        std::string sha;   // SCRIPT LOAD's answer
        CommandHealth::Kind kind = CommandHealth::Kind::Write;
    };
    std::map<std::string, Script> scripts_;  // by name
    std::map<std::string, Followed> followed_;
    std::set<std::string> toSubscribe_;
    std::set<std::string> toUnsubscribe_;
    bool subscriptionsPosted_ = false;
    std::string nodeId_;
    std::string runId_;          // INFO run_id of the Redis the commands connection reaches
    std::string replicationId_;  // and its INFO master_replid (its tenure as master)
    RedisConnection::Redirect redirect_;
    std::function<std::string()> liveMasters_;
    std::function<bool(std::uint16_t)> mapsHere_;
    std::mt19937_64 epochs_;  // candidates for channels without one, seeded once
    std::uint64_t probesSent_ = 0;
    std::chrono::steady_clock::time_point lastProbeSeen_;
    asio::steady_timer probeTimer_;
    asio::steady_timer checkTimer_;
    asio::steady_timer commandsRetry_;
    asio::steady_timer subscriberRetry_;
    int commandsAttempts_ = 0;
    int subscriberAttempts_ = 0;
    std::size_t checkCursor_ = 0;
    bool available_ = false;
    bool stopped_ = false;
    std::string state_ = "connecting";
    std::string refused_;  // the log event of the last refuse(), until a connection is made
    BrokerStats stats_;
    CommandHealth health_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// How to reach the Redis the options name (for every connection a node makes to it).
RedisEndpoint redisEndpoint(const BrokerOptions& options);

std::unique_ptr<Broker> makeRedisBroker(asio::io_context& io, const BrokerOptions& options, std::size_t historySize);

}  // namespace pushwire::server
