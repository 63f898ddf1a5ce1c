// The broker seam's contract (server-native/src/broker/broker.hpp), one suite run against
// every broker: the memory broker, the Redis broker on a real redis-server this test
// starts, the sharded broker on two of them, and the cluster broker on a real 3-master +
// 3-replica Redis Cluster (started once per test process). What must hold whichever
// broker a server runs on.
#include <asio.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <set>

#include "../../support/redis_cluster.hpp"
#include "../../support/redis_server.hpp"
#include "broker/cluster_broker.hpp"
#include "broker/memory_broker.hpp"
#include "broker/redis_broker.hpp"
#include "broker/routed_broker.hpp"

namespace broker_contract_test {

using namespace pushwire::server;
using pushwire::test::RedisCluster;
using pushwire::test::RedisServer;
using namespace std::chrono_literals;

namespace {

struct Recorder final : BrokerEventHandler {
    std::vector<std::pair<std::string, StreamHead>> follows;
    std::vector<MessagePtr> publications;
    bool available = false;
    void onFollow(const std::string& channel, const StreamHead& head) override { follows.emplace_back(channel, head); }
    void onPublication(const MessagePtr& message) override { publications.push_back(message); }
    void onAvailability(bool up, const std::string&) override { available = up; }
};

// One node: a broker on its own loop, with a handler that records.
using MakeBroker = std::function<std::unique_ptr<Broker>(asio::io_context&, std::size_t history)>;

class Node {
public:
    Node(bool redis, RedisServer* server, std::size_t history)
        : Node(
              [redis, server](asio::io_context& io, std::size_t size) -> std::unique_ptr<Broker> {
                  if (!redis) return std::make_unique<MemoryBroker>(MemoryBroker::Options{size, ""});
                  BrokerOptions options;
                  options.kind = BrokerOptions::Kind::Redis;
                  options.port = server->port();
                  return makeRedisBroker(io, options, size);
              },
              history) {}
    Node(const MakeBroker& make, std::size_t history) {
        broker_ = make(io_, history);
        broker_->setHandler(&recorder_);
        broker_->start();
        REQUIRE(runUntil([this] { return broker_->available(); }));
    }
    ~Node() {
        broker_->stop();
        io_.poll();
    }

    Broker& broker() { return *broker_; }
    Recorder& recorder() { return recorder_; }
    asio::io_context& io() { return io_; }

    bool runUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout = 5s) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!done()) {
            if (std::chrono::steady_clock::now() > deadline) return false;
            io_.restart();
            io_.run_for(5ms);
        }
        return true;
    }

    MessagePtr publish(const std::string& channel, const std::string& data) {
        std::optional<pushwire::protocol::Result<MessagePtr>> result;
        broker_->publish(channel, data, 1000, [&](pushwire::protocol::Result<MessagePtr> r) { result = std::move(r); });
        REQUIRE(runUntil([&] { return result.has_value(); }));
        REQUIRE(result->ok());
        return result->value();
    }

    HistoryPage history(const HistoryQuery& query) {
        std::optional<pushwire::protocol::Result<HistoryPage>> result;
        broker_->history(query, [&](pushwire::protocol::Result<HistoryPage> r) { result = std::move(r); });
        REQUIRE(runUntil([&] { return result.has_value(); }));
        REQUIRE(result->ok());
        return std::move(result->value());
    }

private:
    asio::io_context io_;
    std::unique_ptr<Broker> broker_;
    Recorder recorder_;
};

struct MemoryKind {
    static constexpr bool redis = false;
};
struct RedisKind {
    static constexpr bool redis = true;
};

// Two independent Redis, channels sharded over them.
struct ShardedKind {
    static constexpr bool redis = true;
};
// A Redis Cluster (3 masters, 3 replicas).
struct ClusterKind {
    static constexpr bool redis = true;
};

template <typename Kind>
struct Rig {
    std::unique_ptr<RedisServer> server = Kind::redis ? std::make_unique<RedisServer>() : nullptr;
    std::unique_ptr<Node> node(std::size_t history = 1000) {
        return std::make_unique<Node>(Kind::redis, server.get(), history);
    }
};

template <>
struct Rig<ShardedKind> {
    RedisServer a, b;
    std::unique_ptr<Node> node(std::size_t history = 1000) {
        return std::make_unique<Node>(
            [this](asio::io_context& io, std::size_t size) {
                BrokerOptions options;
                options.kind = BrokerOptions::Kind::Redis;
                for (RedisServer* shard : {&a, &b}) {
                    BrokerOptions one;
                    one.kind = BrokerOptions::Kind::Redis;
                    one.port = shard->port();
                    options.shards.push_back(one);
                }
                return std::make_unique<ShardedBroker>(io, options, size);
            },
            history);
    }
};

RedisCluster& sharedCluster() {
    static RedisCluster cluster;
    return cluster;
}

template <>
struct Rig<ClusterKind> {
    Rig() { sharedCluster().flush(); }
    std::unique_ptr<Node> node(std::size_t history = 1000) {
        return std::make_unique<Node>(
            [](asio::io_context& io, std::size_t size) {
                BrokerOptions options;
                REQUIRE_FALSE(parseBrokerUrl(sharedCluster().url(), options));
                return std::make_unique<ClusterBroker>(io, options, size);
            },
            history);
    }
};

std::vector<std::uint64_t> seqsOf(const std::vector<MessagePtr>& messages) {
    std::vector<std::uint64_t> out;
    for (const auto& m : messages) out.push_back(m->seq);
    return out;
}

}  // namespace

TEMPLATE_TEST_CASE("a broker assigns seqs 1, 2, 3 in one epoch and returns them from history", "[broker]", MemoryKind,
                   RedisKind, ShardedKind, ClusterKind) {
    Rig<TestType> rig;
    auto node = rig.node();
    auto a = node->publish("c", R"({"n":1})");
    auto b = node->publish("c", R"("two")");
    auto c = node->publish("c", "3");
    CHECK(seqsOf({a, b, c}) == std::vector<std::uint64_t>{1, 2, 3});
    CHECK(a->epoch == c->epoch);
    CHECK(a->envelope == R"({"channel":"c","seq":1,"data":{"n":1},"time":1000})");
    HistoryPage page = node->history({"c", 0, "", 100, SIZE_MAX});
    CHECK(page.head.seq == 3);
    CHECK(page.head.epoch == a->epoch);
    REQUIRE(seqsOf(page.messages) == std::vector<std::uint64_t>{1, 2, 3});
    CHECK(page.messages[1]->envelope == b->envelope);
    CHECK_FALSE(page.gap);
    CHECK_FALSE(page.more);
}

TEMPLATE_TEST_CASE("history is trimmed to its size, and reads after, inside and before it say what is left", "[broker]",
                   MemoryKind, RedisKind, ShardedKind, ClusterKind) {
    Rig<TestType> rig;
    auto node = rig.node(5);
    for (int i = 1; i <= 8; ++i) node->publish("c", std::to_string(i));
    SECTION("before the history: a gap, then what is held") {
        HistoryPage page = node->history({"c", 0, "", 100, SIZE_MAX});
        REQUIRE(page.gap);
        CHECK(page.gap->from == 1);
        CHECK(page.gap->to == 3u);
        CHECK(seqsOf(page.messages) == std::vector<std::uint64_t>{4, 5, 6, 7, 8});
    }
    SECTION("at its oldest boundary: no gap") {
        HistoryPage page = node->history({"c", 3, "", 100, SIZE_MAX});
        CHECK_FALSE(page.gap);
        CHECK(page.messages.size() == 5);
    }
    SECTION("inside it: the rest") {
        CHECK(seqsOf(node->history({"c", 6, "", 100, SIZE_MAX}).messages) == std::vector<std::uint64_t>{7, 8});
    }
    SECTION("at or past the head: nothing") {
        CHECK(node->history({"c", 8, "", 100, SIZE_MAX}).messages.empty());
        CHECK(node->history({"c", 99, "", 100, SIZE_MAX}).messages.empty());
    }
    SECTION("capped by count or by bytes (at least one message): more") {
        HistoryPage counted = node->history({"c", 3, "", 2, SIZE_MAX});
        CHECK(seqsOf(counted.messages) == std::vector<std::uint64_t>{4, 5});
        CHECK(counted.more);
        HistoryPage sized = node->history({"c", 3, "", 100, 10});
        CHECK(sized.messages.size() == 1);
        CHECK(sized.more);
    }
}

TEMPLATE_TEST_CASE("a stream that was never published has an epoch and head 0, kept by the first publish", "[broker]",
                   MemoryKind, RedisKind, ShardedKind, ClusterKind) {
    Rig<TestType> rig;
    auto node = rig.node();
    HistoryPage page = node->history({"fresh", 0, "", 100, SIZE_MAX});
    CHECK(page.head.seq == 0);
    CHECK_FALSE(page.head.epoch.empty());
    CHECK(page.messages.empty());
    auto first = node->publish("fresh", "1");
    CHECK(first->seq == 1);
    CHECK(first->epoch == page.head.epoch);
}

TEMPLATE_TEST_CASE("a position in another life of the stream is reported, not read", "[broker]", MemoryKind, RedisKind,
                   ShardedKind, ClusterKind) {
    Rig<TestType> rig;
    auto node = rig.node();
    node->publish("c", "1");
    HistoryPage page = node->history({"c", 1, "0ld", 100, SIZE_MAX});
    CHECK(page.epochChanged);
    CHECK(page.messages.empty());
    CHECK(page.head.seq == 1);
    CHECK(page.head.epoch != "0ld");
}

TEMPLATE_TEST_CASE("a followed channel is told its head, then every publication once, in order", "[broker]", MemoryKind,
                   RedisKind, ShardedKind, ClusterKind) {
    Rig<TestType> rig;
    auto node = rig.node();
    node->publish("f", "0");
    node->broker().follow("f");
    REQUIRE(node->runUntil([&] { return !node->recorder().follows.empty(); }));
    CHECK(node->recorder().follows[0].first == "f");
    CHECK(node->recorder().follows[0].second.seq == 1);
    for (int i = 0; i < 5; ++i) node->publish("f", std::to_string(i));
    node->publish("other", "x");  // not followed
    REQUIRE(node->runUntil([&] { return node->recorder().publications.size() >= 5; }));
    node->runUntil([] { return false; }, 100ms);
    CHECK(seqsOf(node->recorder().publications) == std::vector<std::uint64_t>{2, 3, 4, 5, 6});
    node->broker().unfollow("f");
    node->runUntil([] { return false; }, 100ms);
    node->publish("f", "after");
    node->runUntil([] { return false; }, 100ms);
    CHECK(node->recorder().publications.size() == 5);
}

TEMPLATE_TEST_CASE("concurrent publishers never get the same seq", "[broker]", MemoryKind, RedisKind, ShardedKind,
                   ClusterKind) {
    Rig<TestType> rig;
    auto a = rig.node();
    // Two nodes on one Redis; the memory broker has one process, so two publishers on it.
    auto b = TestType::redis ? rig.node() : nullptr;
    Node& second = b ? *b : *a;
    std::vector<std::uint64_t> seqs;
    int answered = 0;
    for (int i = 0; i < 200; ++i) {
        for (Node* node : {a.get(), &second}) {
            node->broker().publish("race", std::to_string(i), 1, [&](pushwire::protocol::Result<MessagePtr> r) {
                ++answered;
                if (r) seqs.push_back(r.value()->seq);
            });
        }
    }
    REQUIRE(a->runUntil(
        [&] {
            second.io().poll();
            second.io().restart();
            return answered == 400;
        },
        20s));
    std::set<std::uint64_t> unique(seqs.begin(), seqs.end());
    CHECK(seqs.size() == 400);
    CHECK(unique.size() == 400);
    CHECK(*unique.begin() == 1);
    CHECK(*unique.rbegin() == 400);
}

TEST_CASE("a Redis broker that cannot reach Redis refuses publishes with broker_unavailable, then recovers",
          "[broker]") {
    RedisServer server;
    Node node(true, &server, 100);
    node.publish("c", "1");
    server.kill();
    std::optional<pushwire::protocol::Result<MessagePtr>> result;
    REQUIRE(node.runUntil([&] { return !node.broker().available(); }));
    node.broker().publish("c", "2", 1, [&](pushwire::protocol::Result<MessagePtr> r) { result = std::move(r); });
    REQUIRE(node.runUntil([&] { return result.has_value(); }));
    REQUIRE_FALSE(result->ok());
    CHECK(result->error().code == pushwire::protocol::ErrorCode::BrokerUnavailable);
    server.start();  // no persistence: a new life of every channel
    REQUIRE(node.runUntil([&] { return node.broker().available(); }, 10s));
    CHECK(node.publish("c", "3")->seq == 1);
}

TEST_CASE("a flushed Redis gives the stream a new epoch, and a follower is told once", "[broker]") {
    RedisServer server;
    Node node(true, &server, 100);
    auto before = node.publish("c", "1");
    node.broker().follow("c");
    REQUIRE(node.runUntil([&] { return node.recorder().follows.size() == 1; }));
    server.cli({"FLUSHALL"});
    // Found by the periodic head check (or by the next publication, whichever is first).
    REQUIRE(node.runUntil([&] { return node.recorder().follows.size() == 2; }, 10s));
    CHECK(node.recorder().follows[1].second.epoch != before->epoch);
    CHECK(node.recorder().follows[1].second.seq == 0);
    auto after = node.publish("c", "2");
    CHECK(after->seq == 1);
    CHECK(after->epoch == node.recorder().follows[1].second.epoch);
    REQUIRE(node.runUntil([&] { return !node.recorder().publications.empty(); }));
    CHECK(node.recorder().publications.back()->seq == 1);
    CHECK(node.recorder().follows.size() == 2);
}

}  // namespace broker_contract_test
