// The server API across every node of a Redis deployment (--broker redis://, shards,
// redis+cluster://): user actions go to every node over a control channel, revocations are
// stored in Redis, and `info` lists every node. Keys and channels (P: --broker-prefix; on
// a Redis Cluster each name carries the hash tag {api} instead: P:{api}:control,
// P:{api}:reply:<node>, P:{api}:nodes, P:{api}:node:<node>, P:{api}:revoked, so that all
// of them live in one slot, on one master):
//   P:control          pub/sub: {"id","origin","action"} from the node that was called
//   P:api:reply:<node> pub/sub: {"id","node","count"}, each node's answer to the origin
//   P:api:nodes        set of node ids; a node is live while its P:api:node key exists
//   P:api:node:<node>  its `info` object (JSON), written with each heartbeat, expiring
//                      after kLiveMs
//   P:revoked          zset user -> `before` of the user's revocation; members whose
//                      before + --max-token-lifetime has passed are trimmed
// The node called applies the action locally, publishes it, and waits at most kWaitMs for
// an answer from each other live node, then answers the sum. A revocation is stored
// before it is published, and each node loads every kept revocation when its subscriber
// connects and every kReloadMs (pub/sub is at most once): a node started later, or one
// that missed the message, refuses the tokens too and closes what it holds with them.
//
// Heartbeat: every kHeartbeatMs, one pipelined round trip (SADD, SET with expiry).
//
// On a Redis Cluster both connections go to the master of the {api} slot, and the pub/sub
// is sharded (SSUBSCRIBE / SPUBLISH: a message goes to that master's subscribers only, not
// over the whole cluster bus). They start at the first seed; a command answered MOVED is
// sent again, once, to the master named, once connected there (the connections follow
// it); one answered ASK ({api} being migrated, the key moved) goes to the target with
// ASKING, TRYAGAIN is waited out (RedisConnection::onRedirect, through a connection of
// RedisAskTargets to each target); an SSUBSCRIBE answered MOVED, or a subscription Redis ends (sunsubscribe: the slot
// moved), makes the subscriber follow too. A connection that cannot be made again goes
// to the seeds in turn (a master killed: a seed then names the promoted replica).
//
// Threading: the loop thread. Two Redis connections of its own (commands, subscriber),
// reconnected every second while they are down; meanwhile actions are applied on this
// node only and answered 503 broker_unavailable saying so.
#pragma once

#include <asio.hpp>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "api/actions.hpp"
#include "broker/redis_connection.hpp"

namespace pushwire::server::api {

class ClusterControl final : public Actions {
public:
    static constexpr std::int64_t kHeartbeatMs = 1000;
    static constexpr std::int64_t kLiveMs = 3000;
    static constexpr std::int64_t kWaitMs = 1000;
    static constexpr std::int64_t kReloadMs = 5000;

    struct Settings {
        RedisEndpoint endpoint;
        std::string prefix;
        std::string nodeId;
        // A Redis Cluster (endpoint: its first seed): names tagged {api}, sharded pub/sub,
        // MOVED followed.
        bool cluster = false;
        std::vector<RedisEndpoint> seeds;
    };

    ClusterControl(asio::io_context& io, Settings settings, Context& context, Revocations& revocations, NodeInfo info);
    ~ClusterControl() override;

    void start();
    void stop();

    void run(const UserAction& action, CountDone done) override;
    void nodes(NodesDone done) override;

    // Commands answered MOVED and sent again elsewhere (for tests and the report).
    std::uint64_t redirects() const { return redirects_; }

private:
    struct Waiting {
        std::set<std::string> nodes;  // still to answer
        std::int64_t count = 0;
        CountDone done;
        std::unique_ptr<asio::steady_timer> timer;
    };

    void connectCommands();
    void connectSubscriber();
    // A command on the commands connection; on a cluster, MOVED sends it again, once, to
    // the master named (once connected there).
    void command(std::vector<std::string> args, RedisConnection::Callback done, bool again = false);
    // The connections not at `address` ("host:port", from MOVED) go there.
    void redirect(const std::string& address, const std::string& from);
    // Where a connection goes: its target, then (cluster, after failures) the seeds in turn.
    RedisEndpoint endpointAfter(int failures) const;
    // P:api / P:{api}, and the names built on it.
    std::string base() const { return settings_.prefix + (settings_.cluster ? ":{api}" : ":api"); }
    std::string nodesKey() const { return base() + ":nodes"; }
    std::string nodeKey(const std::string& node) const { return base() + ":node:" + node; }
    std::string revokedKey() const { return settings_.cluster ? base() + ":revoked" : settings_.prefix + ":revoked"; }
    std::string controlChannel() const {
        return settings_.cluster ? base() + ":control" : settings_.prefix + ":control";
    }
    std::string replyChannel(const std::string& node) const { return base() + ":reply:" + node; }
    const char* publishVerb() const { return settings_.cluster ? "SPUBLISH" : "PUBLISH"; }
    void retry(bool commands);
    bool ready() const { return commandsReady_ && subscriberReady_; }
    void beat();
    void reload();
    void onPush(const RedisValue& push);
    void onControl(const std::string& payload);
    void onReply(const std::string& payload);
    void finish(std::uint64_t id);
    // The live nodes other than this one.
    void liveNodes(std::function<void(std::optional<std::vector<std::string>>)> done);
    // The same with each one's info JSON.
    void liveInfos(std::function<void(std::optional<std::vector<std::pair<std::string, std::string>>>)> done);
    std::int64_t nowMs() const { return context_.nowMs(); }

    asio::io_context& io_;
    Settings settings_;
    Context& context_;
    Revocations& revocations_;
    NodeInfo info_;
    std::unique_ptr<RedisConnection> commands_;
    std::unique_ptr<RedisConnection> subscriber_;
    std::unique_ptr<RedisAskTargets> askTargets_;  // a cluster: where ASK sends commands
    bool commandsReady_ = false;
    bool subscriberReady_ = false;
    bool stopped_ = false;
    asio::steady_timer heartbeat_;
    asio::steady_timer commandsRetry_;
    asio::steady_timer subscriberRetry_;
    std::int64_t lastReloadMs_ = 0;
    std::uint64_t nextId_ = 1;
    std::map<std::uint64_t, Waiting> waiting_;
    RedisEndpoint target_;  // where both connections go (a cluster: the {api} slot's master, once known)
    int commandsFailures_ = 0;
    int subscriberFailures_ = 0;
    std::vector<std::function<void()>> afterConnect_;  // commands to send again once connected
    std::uint64_t redirects_ = 0;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace pushwire::server::api
