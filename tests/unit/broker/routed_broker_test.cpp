// Brokers over several Redis (broker/routed_broker.hpp, broker/cluster_broker.hpp): how a
// channel finds its shard or slot, and what a shard that is down does to the others. The
// broker contract itself runs on them in broker_contract_test.cpp.
#include "broker/routed_broker.hpp"

#include <asio.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include "../../support/redis_cluster.hpp"
#include "../../support/redis_server.hpp"
#include "app/options.hpp"
#include "broker/cluster_broker.hpp"

namespace routed_broker_test {

using namespace pushwire::server;
using pushwire::test::RedisServer;
using namespace std::chrono_literals;

namespace {

bool runUntil(asio::io_context& io, const std::function<bool()>& done, std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        io.restart();
        io.run_for(5ms);
    }
    return true;
}

pushwire::protocol::Result<MessagePtr> publish(asio::io_context& io, Broker& broker, const std::string& channel) {
    std::optional<pushwire::protocol::Result<MessagePtr>> result;
    broker.publish(channel, "1", 1000, [&](pushwire::protocol::Result<MessagePtr> r) { result = std::move(r); });
    REQUIRE(runUntil(io, [&] { return result.has_value(); }));
    return std::move(*result);
}

}  // namespace

TEST_CASE("jump consistent hash: adding a shard to n moves about 1/(n+1) of the channels, all to the new shard",
          "[broker]") {
    for (std::size_t n : {1u, 2u, 5u}) {
        std::size_t moved = 0;
        const std::size_t total = 20000;
        for (std::size_t i = 0; i < total; ++i) {
            const std::uint64_t key = fnv1a64("channel-" + std::to_string(i));
            const std::size_t before = jumpConsistentHash(key, n), after = jumpConsistentHash(key, n + 1);
            CHECK(before < n);
            if (before != after) {
                ++moved;
                CHECK(after == n);  // a moved channel goes to the new shard, never between old ones
            }
        }
        const double share = static_cast<double>(moved) / total, expected = 1.0 / static_cast<double>(n + 1);
        CHECK(share > expected * 0.9);
        CHECK(share < expected * 1.1);
    }
}

TEST_CASE("a channel's keys share one Redis Cluster slot: CRC16 of the {channel} hash tag, as Redis computes it",
          "[broker]") {
    // Values from redis-cli CLUSTER KEYSLOT (Redis 7.0.15).
    CHECK(clusterSlot("foo") == 12182);
    CHECK(clusterSlot("123456789") == 12739);
    CHECK(clusterSlot("pushwire:{news}:m") == 5161);
    CHECK(clusterSlot("pushwire:{news}:s") == 5161);
    CHECK(clusterSlot("news") == 5161);
    CHECK(clusterSlot("pushwire:{a:b}:k:xyz") == 2785);
    CHECK(clusterSlot("a:b") == 2785);
    // An empty tag is no tag: the whole key.
    CHECK(clusterSlot("x{}y") == 16116);
    CHECK(clusterSlot("y{}x") == 6241);
}

TEST_CASE(
    "the broker option takes several redis:// URLs (shards) or redis+cluster:// seeds, and a cluster prefix holds no "
    "brace",
    "[broker]") {
    BrokerOptions shards;
    REQUIRE_FALSE(parseBrokerUrl("redis://a:1,redis://:pw@b:2/3", shards));
    REQUIRE(shards.shards.size() == 2);
    CHECK_FALSE(shards.cluster);
    CHECK(shards.shards[0].host == "a");
    CHECK(shards.shards[1].port == 2);
    CHECK(shards.shards[1].password == "pw");
    CHECK(shards.shards[1].db == 3);
    CHECK(shards.host == "a");
    BrokerOptions cluster;
    REQUIRE_FALSE(parseBrokerUrl("redis+cluster://h1:7000,h2:7001", cluster));
    CHECK(cluster.cluster);
    REQUIRE(cluster.shards.size() == 2);
    CHECK(cluster.shards[1].host == "h2");
    CHECK(cluster.shards[1].port == 7001);
    // Seeds over TLS with an ACL user: the cluster's nodes are reached as the seeds are.
    BrokerOptions secure;
    REQUIRE_FALSE(parseBrokerUrl("redis+cluster://rediss://app:pw@h1:7000,rediss://app:pw@h2:7001", secure));
    CHECK(secure.cluster);
    CHECK(secure.tls);
    CHECK(secure.user == "app");
    REQUIRE(secure.shards.size() == 2);
    CHECK(secure.shards[1].tls);
    CHECK(secure.shards[1].host == "h2");
    BrokerOptions bad;
    CHECK(parseBrokerUrl("redis+cluster://h1:7000/2", bad));
    CHECK(parseBrokerUrl("redis://a:1,", bad));
    CHECK(parseBrokerUrl("redis://a:1,memory", bad));
    BrokerOptions one;
    REQUIRE_FALSE(parseBrokerUrl("redis://a:1", one));
    CHECK(one.shards.empty());
}

TEST_CASE("a shard that is down fails only its channels (broker_unavailable), the others go on, and it comes back",
          "[broker]") {
    RedisServer a, b;
    BrokerOptions options;
    options.kind = BrokerOptions::Kind::Redis;
    for (RedisServer* shard : {&a, &b}) {
        BrokerOptions one;
        one.kind = BrokerOptions::Kind::Redis;
        one.port = shard->port();
        options.shards.push_back(one);
    }
    asio::io_context io;
    ShardedBroker broker(io, options, 100);
    broker.start();
    REQUIRE(runUntil(
        io, [&] { return broker.parts().size() == 2 && broker.parts()[0].available && broker.parts()[1].available; }));
    CHECK(broker.state() == "ok");
    // A channel on each shard.
    std::string onA, onB;
    for (int i = 0; onA.empty() || onB.empty(); ++i) {
        const std::string name = "c" + std::to_string(i);
        (broker.partIndexOf(name) == 0 ? onA : onB) = name;
    }
    REQUIRE(publish(io, broker, onA).ok());
    REQUIRE(publish(io, broker, onB).ok());
    // Each is stored on its own shard only.
    CHECK(a.cli({"EXISTS", "pushwire:{" + onA + "}:m"}) == "1\n");
    CHECK(b.cli({"EXISTS", "pushwire:{" + onA + "}:m"}) == "0\n");
    CHECK(b.cli({"EXISTS", "pushwire:{" + onB + "}:m"}) == "1\n");

    // The channel list walks both shards.
    std::set<std::string> listed;
    std::string cursor;
    for (int pages = 0; pages < 100; ++pages) {
        std::optional<pushwire::protocol::Result<ChannelList>> page;
        ChannelListQuery query;
        query.cursor = cursor;
        broker.channels(query, [&](pushwire::protocol::Result<ChannelList> r) { page = std::move(r); });
        REQUIRE(runUntil(io, [&] { return page.has_value(); }));
        REQUIRE(page->ok());
        for (const auto& channel : page->value().channels) listed.insert(channel);
        cursor = page->value().next;
        if (cursor.empty()) break;
    }
    CHECK(listed == std::set<std::string>{onA, onB});

    b.kill();
    REQUIRE(runUntil(io, [&] { return !broker.parts()[1].available; }));
    CHECK(broker.available());  // the node stays in service: shard a's channels work
    CHECK(broker.state().find("1 of 2 down") != std::string::npos);
    auto refused = publish(io, broker, onB);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code == pushwire::protocol::ErrorCode::BrokerUnavailable);
    CHECK(publish(io, broker, onA).ok());

    b.start();
    REQUIRE(runUntil(
        io, [&] { return broker.parts()[1].available; }, 15s));
    CHECK(publish(io, broker, onB).ok());
    CHECK(broker.state() == "ok");
    broker.stop();
    io.poll();
}

TEST_CASE("a cluster broker follows many channels of every master: each is told its head, then its publications",
          "[broker]") {
    pushwire::test::RedisCluster cluster(3, 0);
    BrokerOptions options;
    REQUIRE_FALSE(parseBrokerUrl(cluster.url(), options));
    asio::io_context io;
    ClusterBroker broker(io, options, 100);
    struct Recorder final : BrokerEventHandler {
        std::set<std::string> followed;
        std::map<std::string, int> heard;
        void onFollow(const std::string& channel, const StreamHead&) override { followed.insert(channel); }
        void onPublication(const MessagePtr& message) override { ++heard[message->channel]; }
        void onAvailability(bool, const std::string&) override {}
    } recorder;
    broker.setHandler(&recorder);
    broker.start();
    REQUIRE(runUntil(io, [&] { return broker.parts().size() == 3 && broker.state() == "ok"; }));
    // Twenty channels: several per master, so several per subscription command.
    for (int i = 0; i < 20; ++i) broker.follow("f" + std::to_string(i));
    REQUIRE(runUntil(io, [&] { return recorder.followed.size() == 20; }));
    for (int i = 0; i < 20; ++i) REQUIRE(publish(io, broker, "f" + std::to_string(i)).ok());
    REQUIRE(runUntil(io, [&] { return recorder.heard.size() == 20; }));
    for (const auto& [channel, count] : recorder.heard) CHECK(count == 1);
    broker.stop();
    io.poll();
}

TEST_CASE(
    "a cluster broker follows a reshard: a publish answered MOVED is sent again to the slot's new owner, a "
    "followed channel is followed there, and the master that answered MOVED is not failing once the map is read "
    "again",
    "[broker]") {
    pushwire::test::RedisCluster cluster(3, 0);
    pushwire::test::RedisServer* from = cluster.masterOf(0);
    REQUIRE(from);
    pushwire::test::RedisServer* to = nullptr;
    for (auto* node : cluster.masters()) {
        if (node != from) to = node;
    }
    REQUIRE(to);
    // Channels in the first 100 slots: the ones a reshard of 100 slots moves.
    std::vector<std::string> channels;
    for (int i = 0; channels.size() < 5 && i < 100000; ++i) {
        const std::string name = "r" + std::to_string(i);
        if (clusterSlot(name) < 100) channels.push_back(name);
    }
    REQUIRE(channels.size() == 5);
    BrokerOptions options;
    REQUIRE_FALSE(parseBrokerUrl(cluster.url(), options));
    asio::io_context io;
    ClusterBroker broker(io, options, 100);
    struct Recorder final : BrokerEventHandler {
        std::map<std::string, int> follows, heard;
        void onFollow(const std::string& channel, const StreamHead&) override { ++follows[channel]; }
        void onPublication(const MessagePtr& message) override { ++heard[message->channel]; }
        void onAvailability(bool, const std::string&) override {}
    } recorder;
    broker.setHandler(&recorder);
    broker.start();
    REQUIRE(runUntil(io, [&] { return broker.parts().size() == 3 && broker.state() == "ok"; }));
    for (const std::string& channel : channels) broker.follow(channel);
    REQUIRE(runUntil(io, [&] { return recorder.follows.size() == channels.size(); }));
    for (const std::string& channel : channels) REQUIRE(publish(io, broker, channel).ok());
    REQUIRE(runUntil(io, [&] { return recorder.heard.size() == channels.size(); }));

    const std::string source = from->cli({"CLUSTER", "MYID"}), target = to->cli({"CLUSTER", "MYID"});
    const std::string reshard = "redis-cli --cluster reshard 127.0.0.1:" + std::to_string(from->port()) +
                                " --cluster-from " + source.substr(0, source.find('\n')) + " --cluster-to " +
                                target.substr(0, target.find('\n')) +
                                " --cluster-slots 100 --cluster-yes >/dev/null 2>&1";
    REQUIRE(std::system(reshard.c_str()) == 0);
    REQUIRE(cluster.masterOf(clusterSlot(channels[0])) == to);

    // The broker's map is older than the reshard: the publishes (all sent at once) go to the
    // former owner, are answered MOVED (they did not run), and are sent again to the new one.
    // How many commands the former owner answered MOVED (Redis's own count).
    auto movedBy = [](pushwire::test::RedisServer* node) -> long long {
        const std::string stats = node->cli({"INFO", "errorstats"});
        const std::string field = "errorstat_MOVED:count=";
        const auto at = stats.find(field);
        return at == std::string::npos ? 0 : std::stoll(stats.substr(at + field.size()));
    };
    const long long movedBefore = movedBy(from);
    std::map<std::string, std::optional<pushwire::protocol::Result<MessagePtr>>> results;
    for (const std::string& channel : channels) {
        broker.publish(channel, "2", 1000, [&results, channel](pushwire::protocol::Result<MessagePtr> r) {
            results[channel] = std::move(r);
        });
    }
    REQUIRE(runUntil(io, [&] { return results.size() == channels.size(); }));
    for (const auto& [channel, result] : results) {
        INFO(channel << ": " << (*result ? std::string("ok") : result->error().message));
        CHECK(result->ok());
    }
    // The former owner answered MOVED to several in a row; the map read since sends those
    // slots elsewhere: it serves its own slots, and is not failing.
    REQUIRE(movedBy(from) - movedBefore >= 3);
    for (const BrokerPart& part : broker.parts()) {
        INFO(part.name << ": " << part.state);
        CHECK_FALSE(part.failing);
    }
    CHECK(broker.state() == "ok");
    CHECK(broker.healthy());
    // The followers moved with their channels: the publications (or, if the stream began a
    // new life there, a new onFollow) reach this node.
    REQUIRE(runUntil(io, [&] {
        for (const std::string& channel : channels) {
            if (recorder.heard[channel] < 2 && recorder.follows[channel] < 2) return false;
        }
        return true;
    }));
    broker.stop();
    io.poll();
}

}  // namespace routed_broker_test
