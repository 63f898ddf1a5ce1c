// Several servers on one real Redis (started by the test): what one node publishes, every
// node delivers, in order, once, on every transport; and through the faults a deployment
// meets: Redis stopped during a publish storm, Redis frozen, Redis flushed, every node
// restarted.
#include <catch2/catch.hpp>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "../support/redis_server.hpp"
#include "harness.hpp"
#include "server_process.hpp"

using namespace pushwire::test;
using nlohmann::json;

namespace cluster_test {

namespace {

std::vector<std::string> nodeArgs(const RedisServer& redis, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--broker", redis.url(), "--broker-prefix", "t"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
}

// What a subscriber on `node` receives of `channel`, from its start, until `count`
// messages came: (seq, data) in the order received. Gap events are recorded as seq 0.
struct Received {
    std::vector<std::pair<std::uint64_t, std::string>> messages;
    std::vector<json> gaps;
};

Received pollUntil(const ServerProcess& node, const std::string& endpoint, const std::string& channel,
                   std::size_t count, std::string since = "0") {
    Received got;
    auto c = node.client();
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (got.messages.size() < count && std::chrono::steady_clock::now() < deadline) {
        auto res = c.Get((endpoint + "?channel=" + channel + "&timeout_ms=2000&since=" + since).c_str());
        if (!res || res->status != 200) {
            std::this_thread::sleep_for(100ms);
            continue;
        }
        json answer = json::parse(res->body);
        for (const auto& gap : answer["gaps"]) got.gaps.push_back(gap);
        for (const auto& m : answer["messages"]) got.messages.emplace_back(m["seq"], m["data"].dump());
        since = answer["cursor"].get<std::string>();
        if (endpoint == "/pushwire/poll" && answer["messages"].empty()) std::this_thread::sleep_for(50ms);
    }
    return got;
}

// The (seq, data) of messages as sseMessages and wsMessages read them.
Received receivedOf(const std::vector<json>& messages) {
    Received got;
    for (const json& message : messages) got.messages.emplace_back(message["seq"], message["data"].dump());
    return got;
}

void expectInOrderOnce(const Received& got, const std::vector<std::string>& published) {
    REQUIRE(got.messages.size() == published.size());
    for (std::size_t i = 0; i < published.size(); ++i) {
        CHECK(got.messages[i].first == i + 1);
        CHECK(got.messages[i].second == published[i]);
    }
}

}  // namespace

TEST_CASE("what nodes B and C publish, node A delivers in order and once, on every transport") {
    RedisServer redis;
    ServerProcess a(nodeArgs(redis)), b(nodeArgs(redis)), c(nodeArgs(redis));
    waitHealthy(a, b, c);
    for (std::string transport : {"websocket", "sse", "longpoll", "poll"}) {
        INFO(transport);
        const std::string channel = "x-" + transport;
        std::vector<std::string> published;
        // Live subscribers first (from now), then a storm from two other nodes.
        std::unique_ptr<SseClient> sse;
        std::unique_ptr<RawWebSocket> ws;
        if (transport == "sse") sse = std::make_unique<SseClient>(a.httpPort(), "/pushwire/sse?channel=" + channel);
        if (transport == "websocket") {
            ws = std::make_unique<RawWebSocket>(a.httpPort(), "/pushwire/ws?channel=" + channel);
            ws->waitFor([](const auto& frames) { return frames.size() >= 2; });
        }
        if (sse) sse->waitFor(1, "welcome");
        for (int i = 0; i < 40; ++i) {
            std::string data = "{\"i\":" + std::to_string(i) + ",\"from\":\"" + (i % 2 ? "b" : "c") + "\"}";
            REQUIRE(tryPublish(i % 2 ? b : c, channel, data) == static_cast<std::uint64_t>(i + 1));
            published.push_back(json::parse(data).dump());
        }
        Received got;
        if (sse) {
            got = receivedOf(sseMessages(*sse, 40, 10s));
        } else if (ws) {
            got = receivedOf(wsMessages(*ws, 40, 10s));
        } else {
            got = pollUntil(a, "/pushwire/" + transport, channel, 40);
        }
        expectInOrderOnce(got, published);
    }
    auto health = a.client().Get("/pushwire/healthz");
    REQUIRE(health);
    CHECK(health->status == 200);
    CHECK(health->body.find("redis://") != std::string::npos);
    auto metrics = a.client().Get("/pushwire/metrics");
    REQUIRE(metrics);
    CHECK(metrics->body.find("pushwire_broker_up{broker=\"redis://") != std::string::npos);
    CHECK(metricValue(metrics->body, "pushwire_broker_command_seconds_count").value_or(0) > 0);
}

// A restarted Redis is another process: even with every write fsynced, pushwire cannot tell
// that it lost nothing (docs/scaling.md, "Failover"), so each channel starts a new life there.
TEST_CASE(
    "Redis stopped for 5 s in a publish storm: each publish got a seq or a 503, every stored message is delivered "
    "once, and the restarted Redis's new life follows one epoch_changed gap",
    "[broker]") {
    RedisServer redis(/*aof=*/true);
    ServerProcess a(nodeArgs(redis)), b(nodeArgs(redis));
    waitHealthy(a, b);
    SseClient subscriber(a.httpPort(), "/pushwire/sse?channel=storm");
    subscriber.waitFor(1, "welcome");
    std::set<int> accepted;
    std::set<int> unknown;  // answered 504: sent as Redis went, stored or not
    int refused = 0;
    std::atomic<bool> stopping{false};
    std::atomic<bool> finished{false};
    std::thread outage([&] {
        std::this_thread::sleep_for(500ms);
        redis.stop();
        std::this_thread::sleep_for(5s);
        redis.start();
        stopping = true;
        // Redis dies with the thread that started it (PR_SET_PDEATHSIG is per thread):
        // this one lasts until the test case is over.
        while (!finished) std::this_thread::sleep_for(10ms);
    });
    struct Joined {
        std::atomic<bool>& finished;
        std::thread& thread;
        ~Joined() {
            finished = true;
            if (thread.joinable()) thread.join();
        }
    } joined{finished, outage};
    // Until 20 publishes were accepted by the restarted Redis (a deadline only for a hang).
    int acceptedAfter = 0;
    auto deadline = std::chrono::steady_clock::now() + 60s;
    for (int i = 0; acceptedAfter < 20 && std::chrono::steady_clock::now() < deadline; ++i) {
        int status = 0;
        const bool restarted = stopping;
        std::uint64_t seq = tryPublish(b, "storm", std::to_string(i), &status);
        if (seq) {
            accepted.insert(i);
            if (restarted) ++acceptedAfter;
        } else {
            CHECK((status == 503 || status == 504));  // 504: sent as Redis went (publish_outcome_unknown)
            if (status == 504) unknown.insert(i);
            ++refused;
        }
        std::this_thread::sleep_for(20ms);
    }
    CHECK(acceptedAfter == 20);
    CHECK(refused > 0);
    REQUIRE(!accepted.empty());
    // Everything that got a seq arrives, once; seqs rise within a life, and the one gap is
    // the new life's.
    auto events = subscriber.waitFor(accepted.size(), "", 20s);
    // And those answered 504 that were stored (a short wait: they may not have been).
    if (!unknown.empty()) events = subscriber.waitFor(accepted.size() + unknown.size(), "", 2s);
    std::set<int> delivered;
    std::uint64_t last = 0;
    int restarts = 0;
    for (const SseEvent& event : events) {
        json envelope = json::parse(event.data);
        const auto seq = envelope["seq"].get<std::uint64_t>();
        if (seq <= last) {
            CHECK(seq == 1);  // the new life starts at 1
            ++restarts;
        }
        last = seq;
        CHECK(delivered.insert(envelope["data"].get<int>()).second);
    }
    // What got a seq is delivered; what was answered 504 may have been stored before Redis
    // went (with AOF it survives, and the old life's rest is delivered): delivered or not,
    // never anything else.
    for (int i : accepted) CHECK(delivered.count(i) == 1);
    for (int i : delivered) CHECK((accepted.count(i) == 1 || unknown.count(i) == 1));
    CHECK(restarts <= 1);
    auto gaps = subscriber.waitFor(1, "gap", 100ms);
    REQUIRE(gaps.size() == 1);
    CHECK(json::parse(gaps[0].data)["reason"] == "epoch_changed");
}

TEST_CASE("a frozen Redis turns health red within seconds, and delivery resumes when it wakes", "[broker]") {
    RedisServer redis;
    ServerProcess a(nodeArgs(redis)), b(nodeArgs(redis));
    waitHealthy(a, b);
    SseClient subscriber(a.httpPort(), "/pushwire/sse?channel=frozen");
    subscriber.waitFor(1, "welcome");
    REQUIRE(tryPublish(b, "frozen", "1") == 1);
    redis.pause();
    int status = 0;
    for (int i = 0; i < 80 && status != 503; ++i) {
        std::this_thread::sleep_for(100ms);
        auto health = a.client().Get("/pushwire/healthz");
        status = health ? health->status : 0;
    }
    CHECK(status == 503);
    auto negotiate = a.client().Get("/pushwire/negotiate");  // clients with another node go there
    REQUIRE(negotiate);
    CHECK(negotiate->status == 503);
    auto metrics = a.client().Get("/pushwire/metrics");
    REQUIRE(metrics);
    CHECK(metrics->body.find("pushwire_broker_up{broker=\"redis://127.0.0.1:" + std::to_string(redis.port()) +
                             "/0\"} 0") != std::string::npos);
    CHECK(metricValue(metrics->body, "pushwire_broker_errors_total").value_or(0) > 0);
    int publishStatus = 0;
    CHECK(tryPublish(b, "frozen", "2", &publishStatus) == 0);
    // 503 once b saw Redis down; 504 (publish_outcome_unknown) when b sent it to the frozen Redis.
    CHECK((publishStatus == 503 || publishStatus == 504));
    redis.resume();
    for (int i = 0; i < 100 && status != 200; ++i) {
        std::this_thread::sleep_for(100ms);
        auto health = a.client().Get("/pushwire/healthz");
        status = health ? health->status : 0;
    }
    CHECK(status == 200);
    std::uint64_t seq = 0;
    for (int i = 0; i < 50 && seq == 0; ++i) {
        seq = tryPublish(b, "frozen", "3");
        if (!seq) std::this_thread::sleep_for(100ms);
    }
    REQUIRE(seq >= 2);
    auto events = subscriber.waitFor(seq, "", 10s);
    CHECK(events.size() == seq);
}

TEST_CASE("a flushed Redis gives each channel exactly one gap, and delivery goes on", "[broker]") {
    RedisServer redis;
    ServerProcess a(nodeArgs(redis)), b(nodeArgs(redis));
    waitHealthy(a, b);
    SseClient subscriber(a.httpPort(), "/pushwire/sse?channels=f1,f2,f3");
    subscriber.waitFor(1, "welcome");
    for (int i = 0; i < 3; ++i) {
        for (std::string ch : {"f1", "f2", "f3"}) tryPublish(b, ch, std::to_string(i));
    }
    subscriber.waitFor(9);
    redis.cli({"FLUSHALL"});
    // Node A's head checks find the new lives and tell the subscriber, before anything
    // is published in them.
    auto gaps = subscriber.waitFor(3, "gap", 15s);
    for (std::string ch : {"f1", "f2", "f3"}) CHECK(tryPublish(b, ch, "\"after\"") == 1);
    auto messages = subscriber.waitFor(12, "", 10s);
    gaps = subscriber.waitFor(3, "gap", 0ms);
    REQUIRE(gaps.size() == 3);
    std::set<std::string> channels;
    for (const SseEvent& gap : gaps) {
        json parsed = json::parse(gap.data);
        CHECK(parsed["reason"] == "epoch_changed");
        CHECK(parsed["from"] == 4);
        channels.insert(parsed["channel"]);
    }
    CHECK(channels.size() == 3);
    REQUIRE(messages.size() == 12);
    for (std::size_t i = 9; i < 12; ++i) CHECK(json::parse(messages[i].data)["seq"] == 1);
}

TEST_CASE("every node restarted: a client resumes from its cursor on a new node with no gap and no repeat") {
    RedisServer redis;
    std::string cursor;
    {
        ServerProcess a(nodeArgs(redis));
        waitHealthy(a);
        for (int i = 1; i <= 10; ++i) REQUIRE(tryPublish(a, "r", std::to_string(i)) == static_cast<std::uint64_t>(i));
        // A cursor after seq 6, as a client that read six would hold.
        SseClient partial(a.httpPort(), "/pushwire/sse?channel=r&since=0");
        auto events = partial.waitFor(10);
        cursor = events[5].id;
        a.kill9();
    }
    ServerProcess b(nodeArgs(redis));
    waitHealthy(b);
    for (int i = 11; i <= 12; ++i) REQUIRE(tryPublish(b, "r", std::to_string(i)) == static_cast<std::uint64_t>(i));
    SseClient resumed(b.httpPort(), "/pushwire/sse?channel=r", "Last-Event-ID: " + cursor + "\r\n");
    auto events = resumed.waitFor(6, "", 10s);
    REQUIRE(events.size() == 6);
    for (std::size_t i = 0; i < 6; ++i) CHECK(json::parse(events[i].data)["seq"] == i + 7);
    CHECK(resumed.waitFor(1, "gap", 200ms).empty());
}

TEST_CASE(
    "two processes on one port with --reuse-port and Redis: clients spread over both, every message once, in order") {
    RedisServer redis;
    const std::string port = std::to_string(freeTcpPort());
    ServerProcess a(nodeArgs(redis, {"--port", port, "--reuse-port"}));
    ServerProcess b(nodeArgs(redis, {"--port", port, "--reuse-port"}));
    REQUIRE(std::to_string(a.httpPort()) == port);
    REQUIRE(std::to_string(b.httpPort()) == port);
    waitHealthy(a, b);
    // The kernel spreads connections over the two: each process welcomes with its own
    // epoch, so the welcomes tell which process took which client.
    std::vector<std::unique_ptr<SseClient>> readers;
    std::map<std::string, int> perProcess;
    while (readers.size() < 8 || (perProcess.size() < 2 && readers.size() < 64)) {
        readers.push_back(std::make_unique<SseClient>(a.httpPort(), "/pushwire/sse?channel=spread"));
        auto welcome = readers.back()->waitFor(1, "welcome");
        REQUIRE(welcome.size() == 1);
        ++perProcess[json::parse(welcome[0].data)["epoch"].get<std::string>()];
    }
    REQUIRE(perProcess.size() == 2);
    std::vector<std::unique_ptr<RawWebSocket>> sockets;
    for (int i = 0; i < 8; ++i) {
        sockets.push_back(std::make_unique<RawWebSocket>(a.httpPort(), "/pushwire/ws?channel=spread"));
        REQUIRE(sockets.back()->upgraded());
        sockets.back()->waitFor([](const auto& frames) { return frames.size() >= 2; });  // welcome, subscribed
    }
    // Publishes through the shared port land on either process too.
    std::vector<std::string> published;
    for (int i = 1; i <= 50; ++i) {
        REQUIRE(tryPublish(a, "spread", std::to_string(i)) == static_cast<std::uint64_t>(i));
        published.push_back(std::to_string(i));
    }
    for (auto& reader : readers) {
        expectInOrderOnce(receivedOf(sseMessages(*reader, 50, 10s)), published);
    }
    for (auto& socket : sockets) {
        expectInOrderOnce(receivedOf(wsMessages(*socket, 50, 10s)), published);
    }
}

}  // namespace cluster_test
