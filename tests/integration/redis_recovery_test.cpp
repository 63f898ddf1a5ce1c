// The Redis broker's recovery paths (docs/scaling.md, "Pub/sub is at most once; pushwire
// is not"), each driven against a real redis-server with only the pub/sub side hurt: a
// proxy between node A and Redis drops single pub/sub messages or wedges A's subscriber
// connection, and CLIENT KILL TYPE pubsub cuts the subscriber connections while
// publications flow. Node B publishes straight to Redis; a subscriber reads on node A.
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "server_process.hpp"
#include "support/redis_server.hpp"
#include "support/tcp_proxy.hpp"

using namespace pushwire::test;
using nlohmann::json;

namespace redis_recovery_test {

namespace {

// What tells the broker's subscriber connection from its command connection (and from the
// server API's control connections, which subscribe to P:control): it subscribes to its
// node's probe channel, t:node:<16 hex digits> (the command connection publishes there).
const std::string kSubscriber = "SUBSCRIBE\r\n$23\r\nt:node:";

std::vector<std::string> brokerAt(int port) {
    return {"--broker", "redis://127.0.0.1:" + std::to_string(port), "--broker-prefix", "t"};
}

std::uint64_t publishOn(const ServerProcess& node, const std::string& channel, int data) {
    auto c = node.client();
    auto res = c.Post("/pushwire/publish", json{{"channel", channel}, {"data", data}}.dump(), "application/json");
    REQUIRE(res);
    INFO(res->body);
    REQUIRE(res->status == 200);
    return json::parse(res->body)["seq"].get<std::uint64_t>();
}

// The pub/sub message of channel `channel` (a RESP push: ... message, the topic, ...).
std::string pubsubMessageOf(const std::string& channel) {
    const std::string topic = "t:{" + channel + "}:p";
    return "message\r\n$" + std::to_string(topic.size()) + "\r\n" + topic + "\r\n";
}

std::vector<std::pair<std::uint64_t, int>> received(const std::vector<SseEvent>& events) {
    std::vector<std::pair<std::uint64_t, int>> out;
    for (const SseEvent& event : events) {
        json envelope = json::parse(event.data);
        out.emplace_back(envelope["seq"].get<std::uint64_t>(), envelope["data"].get<int>());
    }
    return out;
}

std::vector<std::pair<std::uint64_t, int>> upTo(int n) {
    std::vector<std::pair<std::uint64_t, int>> out;
    for (int i = 1; i <= n; ++i) out.emplace_back(static_cast<std::uint64_t>(i), i);
    return out;
}

// Node A through the proxy, node B straight to Redis, and a live subscriber of `channel`
// on A that already received seq 1.
struct Deployment {
    explicit Deployment(const std::string& channel)
        : proxy(redis.port()),
          a(brokerAt(proxy.port())),
          b(brokerAt(redis.port())),
          subscriber((waitHealthy(a), waitHealthy(b), a.httpPort()), "/pushwire/sse?channel=" + channel) {
        REQUIRE(subscriber.waitFor(1, "welcome").size() == 1);
        REQUIRE(proxy.connections(kSubscriber) == 1);
        REQUIRE(publishOn(b, channel, 1) == 1);
        REQUIRE(subscriber.waitFor(1).size() == 1);
    }
    double filled() { return a.metric("pushwire_broker_filled_total").value_or(-1); }

    RedisServer redis;
    TcpProxy proxy;
    ServerProcess a;
    ServerProcess b;
    SseClient subscriber;
};

}  // namespace

TEST_CASE("redis: a publication lost on pub/sub is read from the stream before the next one is delivered", "[broker]") {
    Deployment d("hole");
    const double filledBefore = d.filled();
    d.proxy.dropReplies(kSubscriber, pubsubMessageOf("hole"), 1);
    REQUIRE(publishOn(d.b, "hole", 2) == 2);
    REQUIRE(eventually([&] { return d.proxy.dropped() == 1; }));  // A never heard of seq 2
    REQUIRE(publishOn(d.b, "hole", 3) == 3);
    CHECK(received(d.subscriber.waitFor(3, "", 10s)) == upTo(3));
    CHECK(d.filled() > filledBefore);
    CHECK(d.subscriber.waitFor(1, "gap", 0ms).empty());
}

TEST_CASE("redis: a publication lost on pub/sub while nothing follows is found by the head check", "[broker]") {
    Deployment d("quiet");
    const double filledBefore = d.filled();
    d.proxy.dropReplies(kSubscriber, pubsubMessageOf("quiet"), 1);
    REQUIRE(publishOn(d.b, "quiet", 2) == 2);
    REQUIRE(eventually([&] { return d.proxy.dropped() == 1; }));
    CHECK(received(d.subscriber.waitFor(2, "", 20s)) == upTo(2));
    CHECK(d.filled() > filledBefore);
}

TEST_CASE("redis: a subscriber connection that hears nothing is replaced by the self-probe, and nothing is lost",
          "[broker]") {
    Deployment d("deaf");
    const double reconnectsBefore = d.a.metric("pushwire_broker_reconnects_total").value_or(-1);
    REQUIRE(d.proxy.wedge(kSubscriber) == 1);  // open, and silent: no probe, no publication comes back
    for (int i = 2; i <= 5; ++i) REQUIRE(publishOn(d.b, "deaf", i) == static_cast<std::uint64_t>(i));
    // The probe goes unanswered for 3 s: A drops that connection and subscribes anew.
    CHECK(d.a.waitMetric(
              "pushwire_broker_reconnects_total", [&](double n) { return n > reconnectsBefore; }, 20s) >
          reconnectsBefore);
    CHECK(eventually([&] { return d.proxy.connections(kSubscriber) == 1; }));  // the new one; the deaf one is closed
    waitHealthy(d.a);
    REQUIRE(publishOn(d.b, "deaf", 6) == 6);
    CHECK(received(d.subscriber.waitFor(6, "", 15s)) == upTo(6));
}

TEST_CASE(
    "redis: what was published while the subscriber connection was down is read once it is back, not found "
    "later as a hole",
    "[broker]") {
    Deployment d("down");
    const double filledBefore = d.filled();
    const double reconnectsBefore = d.a.metric("pushwire_broker_reconnects_total").value_or(-1);
    // A's subscriber connection goes, and Redis cannot be reached for a new one a while.
    d.proxy.refuseNew(true);
    REQUIRE(d.proxy.cut(kSubscriber) == 1);
    REQUIRE(d.a.waitMetric("pushwire_broker_reconnects_total", [&](double n) { return n > reconnectsBefore; }) >
            reconnectsBefore);
    for (int i = 2; i <= 6; ++i) REQUIRE(publishOn(d.b, "down", i) == static_cast<std::uint64_t>(i));
    d.proxy.refuseNew(false);
    CHECK(received(d.subscriber.waitFor(6, "", 15s)) == upTo(6));
    // Read forward on reconnecting: neither the hole filling nor the head check had to.
    CHECK(d.filled() == filledBefore);
}

TEST_CASE("redis: subscriber connections killed while publications flow are re-read after they reconnect", "[broker]") {
    Deployment d("killed");
    const double reconnectsBefore = d.a.metric("pushwire_broker_reconnects_total").value_or(-1);
    constexpr int kMessages = 300;
    std::atomic<int> published{1};
    std::thread publisher([&] {
        auto c = d.b.client();
        for (int i = 2; i <= kMessages; ++i) {
            auto res = c.Post("/pushwire/publish", json{{"channel", "killed"}, {"data", i}}.dump(), "application/json");
            if (!res || res->status != 200) break;
            published = i;
            std::this_thread::sleep_for(2ms);
        }
    });
    int kills = 0;
    for (int round = 0; round < 3; ++round) {
        // Each round waits for publications to go on, then cuts every subscriber
        // connection on Redis (B's too): A's reconnects, and reads what it missed.
        const int at = published;
        eventually([&] { return published >= at + 40 || published == kMessages; });
        kills += std::atoi(d.redis.cli({"CLIENT", "KILL", "TYPE", "pubsub"}).c_str());
    }
    publisher.join();
    REQUIRE(published == kMessages);
    CHECK(kills >= 3);
    CHECK(received(d.subscriber.waitFor(kMessages, "", 30s)) == upTo(kMessages));
    CHECK(d.a.metric("pushwire_broker_reconnects_total") >= reconnectsBefore + 3);
    CHECK(d.subscriber.waitFor(1, "gap", 0ms).empty());
}

namespace {

// The most memory the process has held (VmHWM), in bytes.
std::size_t peakRss(int pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(status, line);) {
        if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
    }
    return 0;
}

}  // namespace

TEST_CASE(
    "redis: a Redis that answers a huge array, a bulk string that never ends or replies to nothing loses its "
    "connection: the publish is answered, memory stays bounded, the node goes on",
    "[broker][hostile]") {
    struct Attack {
        std::string reply;
        std::size_t filler;
        std::string logged;
    };
    Attack attack;
    SECTION("an array of two billion elements") { attack = {"*2000000000\r\n", 0, "unreadable reply from Redis"}; }
    SECTION("a bulk string of 512 MiB") { attack = {"$536870912\r\n", 512u << 20, "a reply from Redis over 128 MiB"}; }
    SECTION("replies to no command") {
        std::string flood;
        for (int i = 0; i < 20000; ++i) flood += "+PONG\r\n";
        attack = {flood, 0, "a reply from Redis that answers no command"};
    }
    RedisServer redis;
    TcpProxy proxy(redis.port());
    ServerProcess node(brokerAt(proxy.port()));
    waitHealthy(node);
    SseClient subscriber(node.httpPort(), "/pushwire/sse?channel=hostile");
    REQUIRE(subscriber.waitFor(1, "welcome").size() == 1);
    REQUIRE(publishOn(node, "hostile", 1) == 1);
    // The next reply on the command connection (the one that runs the scripts) is the attack.
    proxy.replaceReplies("EVALSHA", "", 1, attack.reply, attack.filler);
    int status = 0;
    const std::uint64_t seq = tryPublish(node, "hostile", "2", &status);
    INFO(node.log());
    CHECK(seq == 0);
    CHECK((status == 503 || status == 504));  // answered: Redis ran it, what came back is not an answer
    CHECK(eventually([&] { return node.log().find(attack.logged) != std::string::npos; }));
    if (!serverSanitized()) CHECK(peakRss(node.pid()) < (400u << 20));
    // Connected again: publishing goes on, and the subscriber gets every stored message once, in order.
    std::uint64_t last = 0;
    REQUIRE(eventually([&] { return (last = tryPublish(node, "hostile", "3")) > 0; }, 20000ms));
    const auto events = subscriber.waitFor(static_cast<std::size_t>(last), "", 15s);
    std::vector<std::uint64_t> seqs;
    for (const SseEvent& event : events) seqs.push_back(json::parse(event.data)["seq"].get<std::uint64_t>());
    std::vector<std::uint64_t> expected;
    for (std::uint64_t i = 1; i <= last; ++i) expected.push_back(i);
    CHECK(seqs == expected);
    CHECK(node.alive());
}

// Redis answers a publish on the command connection and delivers it on the subscriber
// connection: the answer can come first. A client that publishes and then asks for what
// follows a position (a poll with since=) must find its message, not the node's window
// as it stood before the delivery. The subscriber connection is held deaf here, so the
// delivery does not come at all while the reads are made.
TEST_CASE("redis: a publish answered before its delivery arrives is in the next read on that node", "[broker]") {
    Deployment d("mine");
    REQUIRE(d.proxy.wedge(kSubscriber) == 1);
    REQUIRE(publishOn(d.a, "mine", 2) == 2);
    auto c = d.a.client();
    for (const std::string since : {"1", "0", "mine@1"}) {
        INFO("since=" << since);
        auto polled = c.Get("/pushwire/poll?channel=mine&since=" + since);
        REQUIRE(polled);
        REQUIRE(polled->status == 200);
        json answer = json::parse(polled->body);
        REQUIRE(!answer["messages"].empty());
        CHECK(answer["messages"].back()["seq"] == 2);
        CHECK(answer["messages"].back()["data"] == 2);
    }
    // Once the window holds it again (the probe replaces the deaf connection and the
    // delivery is read forward), the subscriber has it once.
    CHECK(received(d.subscriber.waitFor(2, "", 20s)) == upTo(2));
}

}  // namespace redis_recovery_test
