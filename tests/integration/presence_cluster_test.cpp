// Presence over Redis with several real nodes (docs/scaling.md, Presence): members of
// every node in one set, a node killed with kill -9 seen leaving by the others' clients
// within --presence-ttl (leave entries in the stream), and the refresh cost per node:
// one Redis round trip per interval whatever the number of members (counted, not timed).
#include <catch2/catch.hpp>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "../support/redis_cluster.hpp"
#include "../support/redis_server.hpp"
#include "broker/cluster_broker.hpp"
#include "harness.hpp"
#include "server_process.hpp"

using namespace pushwire::test;
using nlohmann::json;

namespace presence_cluster_test {

#define SESSION_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SESSION_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

namespace {

std::vector<std::string> presenceNode(const RedisServer& redis, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--broker",       redis.url(), "--broker-prefix",     "pt",
                                     "--presence",     "room:*",    "--join-leave",        "room:*",
                                     "--presence-ttl", "3",         "--presence-grace-ms", "300"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
}

std::set<std::string> presentOn(const ServerProcess& node, const std::string& channel) {
    auto response = node.client().Get(("/pushwire/presence?channel=" + channel).c_str());
    REQUIRE(response);
    REQUIRE(response->status == 200);
    const json body = json::parse(response->body);
    std::set<std::string> out;
    for (const auto& member : body["members"]) out.insert(member["client"]);
    return out;
}

bool becomes(const ServerProcess& node, const std::string& channel, const std::set<std::string>& clients,
             std::chrono::milliseconds timeout = 20000ms) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::set<std::string> seen;
    while (std::chrono::steady_clock::now() < deadline) {
        seen = presentOn(node, channel);
        if (seen == clients) return true;
        std::this_thread::sleep_for(50ms);
    }
    std::string text;
    for (const std::string& client : seen) text += client + " ";
    UNSCOPED_INFO("present on " << channel << ": " << text);
    return false;
}

std::string welcomeClient(WsClient& ws) {
    std::string welcome = ws.waitFor([](const std::string& f) { return f.find("\"welcome\"") != std::string::npos; });
    REQUIRE(!welcome.empty());
    return json::parse(welcome)["client"];
}

// calls= of one command in INFO commandstats (commands scripts run count too).
long long commandCalls(const RedisServer& redis, const std::string& command) {
    const std::string info = redis.cli({"INFO", "commandstats"});
    const std::string key = "cmdstat_" + command + ":calls=";
    const auto at = info.find(key);
    return at == std::string::npos ? 0 : std::stoll(info.substr(at + key.size()));
}

}  // namespace

TEST_CASE("presence on Redis: members of every node in one set, and a node killed -9 is seen leaving within the TTL",
          "[presence][broker]") {
    RedisServer redis;
    ServerProcess a(presenceNode(redis));
    ServerProcess b(presenceNode(redis));
    waitHealthy(a);
    waitHealthy(b);
    WsClient watcher(b.wsUrl("?channel=room:k&session=" + std::string(32, 'w')));  // on the node that lives
    const std::string w = welcomeClient(watcher);
    WsClient onA(a.wsUrl("?channel=room:k&session=" + std::string(32, 'a')));
    const std::string x = welcomeClient(onA);
    SseClient sseOnA(a.httpPort(), "/pushwire/sse?channel=room:k&session=" + std::string(32, 'b'));
    const std::string y = json::parse(sseOnA.waitFor(1, "welcome").at(0).data)["client"];
    for (const std::string& client : {x, y}) {
        REQUIRE(!watcher
                     .waitFor(
                         [&](const std::string& f) {
                             auto j = json::parse(f, nullptr, false);
                             return j.value("type", "") == "join" && j["member"]["client"] == client;
                         },
                         15000ms)
                     .empty());
    }
    REQUIRE(becomes(b, "room:k", {w, x, y}));
    REQUIRE(becomes(a, "room:k", {w, x, y}));

    a.kill9();  // no leave from it, ever: the survivors must notice its silence
    std::set<std::string> left;
    std::vector<std::uint64_t> seqs;
    const auto deadline = std::chrono::steady_clock::now() + 30s;  // ttl 3 s: generous on a loaded machine
    while (left.size() < 2 && std::chrono::steady_clock::now() < deadline) {
        std::string frame = watcher.waitFor(
            [](const std::string& f) { return f.find("\"type\":\"leave\"") != std::string::npos; }, 1000ms);
        if (frame.empty()) continue;
        auto j = json::parse(frame);
        left.insert(j["member"]["client"].get<std::string>());
        seqs.push_back(j["seq"]);
    }
    CHECK(left == std::set<std::string>{x, y});
    REQUIRE(seqs.size() == 2);
    CHECK(seqs[1] == seqs[0] + 1);  // entries of the stream, in order
    CHECK(presentOn(b, "room:k") == std::set<std::string>{w});
    CHECK(b.waitMetric("pushwire_presence_nodes_reaped_total", [](double v) { return v >= 1; }) >= 1);
    // A reader resuming from before the death gets the same leaves from the stream.
    auto history = b.client().Get("/pushwire/poll?channel=room:k&since=0");
    REQUIRE(history);
    const json answer = json::parse(history->body);
    int leaves = 0;
    for (const auto& entry : answer["messages"]) leaves += entry.value("event", "") == "leave";
    CHECK(leaves == 2);
}

TEST_CASE("presence on Redis: a node refreshes with one round trip per interval, whatever its number of members",
          "[presence][broker]") {
    RedisServer redis;
    ServerProcess node(presenceNode(redis));
    waitHealthy(node);
    auto window = [&](int intervals) {
        // The node's own count (one scrape) and what Redis executed over the same beats.
        const double beats0 = *node.metric("pushwire_presence_refreshes_total");
        const long long zadd0 = commandCalls(redis, "zadd");
        const long long hset0 = commandCalls(redis, "hset");
        const long long hincrby0 = commandCalls(redis, "hincrby");
        node.waitMetric("pushwire_presence_refreshes_total", [&](double v) { return v >= beats0 + intervals; });
        auto scrape = node.client().Get("/pushwire/metrics");
        REQUIRE(scrape);
        const double beats = *metricValue(scrape->body, "pushwire_presence_refreshes_total") - beats0;
        struct Counts {
            double beats;
            long long zadd, hset, hincrby;
        };
        return Counts{beats, commandCalls(redis, "zadd") - zadd0, commandCalls(redis, "hset") - hset0,
                      commandCalls(redis, "hincrby") - hincrby0};
    };
    // One member.
    auto first = node.client().Get(("/pushwire/poll?channel=room:one&session=" + std::string(32, 'm')).c_str());
    REQUIRE(first);
    REQUIRE(becomes(node, "room:one", {json::parse(first->body)["client"].get<std::string>()}));
    auto one = window(3);
    // Fifty members on five channels (pollers with sessions stay members 30 s).
    for (int i = 0; i < 50; ++i) {
        auto r = node.client().Get(("/pushwire/poll?channel=room:" + std::to_string(i % 5) +
                                    "&session=" + std::string(30, 'p') + (i < 10 ? "0" : "") + std::to_string(i))
                                       .c_str());
        REQUIRE(r);
    }
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (*node.metric("pushwire_presence_members") < 51 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(50ms);
    }
    REQUIRE(*node.metric("pushwire_presence_members") == 51);
    std::this_thread::sleep_for(300ms);  // the joins' scripts have run
    auto fifty = window(3);
    for (const auto& counts : {one, fifty}) {
        // Every beat is one script: one ZADD on Redis (plus at most the beat in flight at
        // either end of the window), no per-member write at all.
        CHECK(counts.beats >= 3);
        CHECK(counts.zadd >= counts.beats - 1);
        CHECK(counts.zadd <= counts.beats + 1);
        CHECK(counts.hset == 0);
        CHECK(counts.hincrby == 0);
    }
    CHECK(*node.metric("pushwire_presence_refresh_round_trips_total") ==
          *node.metric("pushwire_presence_refreshes_total"));
}

TEST_CASE(
    "presence on Redis: a burst of leaves on one node while others join on another ends exact, in order, in few "
    "Redis calls",
    "[presence][broker]") {
    // Scaled down from the probe that found ghosts (500 WebSockets x 20 channels each way).
    constexpr int kClients = 30;
    const std::vector<std::string> channels = {"room:b0", "room:b1", "room:b2", "room:b3"};
    std::string list;
    for (const std::string& channel : channels) list += (list.empty() ? "" : ",") + channel;
    RedisServer redis;
    ServerProcess a(presenceNode(redis));
    ServerProcess b(presenceNode(redis));
    waitHealthy(a);
    waitHealthy(b);
    std::vector<std::unique_ptr<WsClient>> onA;
    std::set<std::string> leaving;
    for (int i = 0; i < kClients; ++i) {
        onA.push_back(std::make_unique<WsClient>(a.wsUrl("?channels=" + list)));
        leaving.insert(welcomeClient(*onA.back()));
    }
    for (const std::string& channel : channels) REQUIRE(becomes(b, channel, leaving));
    // The joining side is connected (no member yet): its subscribes go out at once.
    std::vector<std::unique_ptr<WsClient>> onB;
    std::set<std::string> joining;
    for (int i = 0; i < kClients; ++i) {
        onB.push_back(std::make_unique<WsClient>(b.wsUrl("")));
        joining.insert(welcomeClient(*onB.back()));
    }
    auto calls = [&] {
        return *a.metric("pushwire_presence_store_calls_total") + *b.metric("pushwire_presence_store_calls_total");
    };
    const double calls0 = calls();

    onA.clear();  // closed: each leaves after the grace
    json subscribe = {{"type", "subscribe"}, {"channels", channels}, {"id", 1}};
    for (auto& ws : onB) ws->send(subscribe.dump());

    for (const std::string& channel : channels) {
        REQUIRE(becomes(b, channel, joining));
        REQUIRE(becomes(a, channel, joining));
    }
    // Every change went to Redis in batches: far fewer scripts than members changed.
    const double changes = 2.0 * kClients * static_cast<double>(channels.size());
    const double used = calls() - calls0;
    UNSCOPED_INFO("store calls for " << changes << " changes: " << used);
    CHECK(used * 4 <= changes);
    CHECK(*a.metric("pushwire_presence_store_failures_total") == 0);
    CHECK(*b.metric("pushwire_presence_store_failures_total") == 0);

    // Redis holds exactly the joined, and still does once the TTL (3 s) and the reaper's
    // interval have passed: no ghost of the closed connections comes back or stays.
    auto redisMembers = [&](const std::string& channel) {  // less the placeholder field ('')
        return std::stoi(redis.cli({"HLEN", "pt:{" + channel + "}:pm"})) - 1;
    };
    for (const std::string& channel : channels) CHECK(redisMembers(channel) == kClients);
    std::this_thread::sleep_for(4500ms);
    for (const std::string& channel : channels) {
        CHECK(redisMembers(channel) == kClients);
        CHECK(presentOn(a, channel) == joining);
        CHECK(presentOn(b, channel) == joining);
    }

    // The stream: each leaving client joined then left, each joining client joined, once
    // each, with consecutive seqs (in order, nothing missed or doubled).
    for (const std::string& channel : channels) {
        auto history = b.client().Get(("/pushwire/poll?channel=" + channel + "&since=0").c_str());
        REQUIRE(history);
        REQUIRE(history->status == 200);
        const json answer = json::parse(history->body);
        std::map<std::string, std::string> events;  // client -> its events in order
        std::uint64_t last = 0;
        for (const auto& entry : answer["messages"]) {
            const std::uint64_t seq = entry["seq"];
            CHECK(seq == last + 1);
            last = seq;
            events[entry["member"]["client"].get<std::string>()] += entry["event"].get<std::string>() + " ";
        }
        CHECK(events.size() == 2 * kClients);
        for (const std::string& client : leaving) CHECK(events[client] == "join leave ");
        for (const std::string& client : joining) CHECK(events[client] == "join ");
    }
}

TEST_CASE("presence on Redis: a frozen Redis gets a reason, not 'unavailable: ok', and the outage is logged",
          "[presence][broker]") {
    RedisServer redis;
    ServerProcess node(presenceNode(redis));
    waitHealthy(node);
    redis.pause();  // SIGSTOP: the connection stays open, nothing is answered
    // Sent while the node still takes Redis for up: answered when the command times out.
    auto presence = node.client().Get("/pushwire/presence?channel=room:frozen");
    redis.resume();
    REQUIRE(presence);
    UNSCOPED_INFO(presence->body);
    CHECK(presence->status == 503);
    CHECK(presence->body.find("broker_unavailable") != std::string::npos);
    CHECK(presence->body.find("unavailable: ok") == std::string::npos);
    CHECK(presence->body.find("no answer from Redis") != std::string::npos);
    // Lost and made again: logged, even when it came back between two of the node's checks.
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (node.log().find("broker_down") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(100ms);
    }
    CHECK(node.log().find("broker_down") != std::string::npos);
}

TEST_CASE("presence: channel=, stats= or session= given twice is a 400, not the first taken", "[presence]") {
    ServerProcess node({"--presence", "room:*"});
    for (const char* target :
         {"/pushwire/presence?channel=room:a&channel=room:b", "/pushwire/presence?channel=room:a&stats=1&stats=0",
          "/pushwire/poll?channel=room:a&session=" SESSION_A "&session=" SESSION_B}) {
        auto response = node.client().Get(target);
        REQUIRE(response);
        UNSCOPED_INFO(target << " -> " << response->body);
        CHECK(response->status == 400);
        CHECK(response->body.find("given 2 times") != std::string::npos);
    }
    WsClient twice(node.wsUrl("?channel=room:a&session=" SESSION_A "&session=" SESSION_B));
    CHECK(twice.failStatus() == 400);
    WsClient once(node.wsUrl("?channel=room:a&session=" SESSION_A));
    CHECK(!welcomeClient(once).empty());
}

namespace {

json presenceStats(const ServerProcess& node, const std::string& channel) {
    auto client = node.client();
    auto response = client.Post("/pushwire/api/presence_stats", json{{"channel", channel}}.dump(), "application/json");
    return response && response->status == 200 ? json::parse(response->body) : json();
}

// Waits until `watcher` received a `type` entry of `client` on `channel` (among all its
// frames: entries of several channels come in any order).
bool sawEntry(WsClient& watcher, const std::string& type, const std::string& channel, const std::string& client) {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    do {
        for (const std::string& frame : watcher.frames()) {
            auto j = json::parse(frame, nullptr, false);
            if (j.is_object() && j.value("type", "") == type && j.value("channel", "") == channel &&
                j.contains("member") && j["member"].value("client", "") == client) {
                return true;
            }
        }
        std::this_thread::sleep_for(50ms);
    } while (std::chrono::steady_clock::now() < deadline);
    return false;
}

}  // namespace

TEST_CASE(
    "presence on a Redis Cluster: members of channels on every master, join and leave across nodes, a node "
    "killed -9 reaped",
    "[presence][broker]") {
    RedisCluster redis;
    // A channel on each master; the node keys ({presence}) on a master that is not the
    // first seed, which the nodes talk to first.
    const std::map<int, std::string> rooms = channelPerMaster(redis, "room:");
    REQUIRE(rooms.size() == 3);
    REQUIRE(redis.masterOf(pushwire::server::clusterSlot("{presence}")) != redis.nodes()[0]);
    std::string list;
    for (const auto& [port, room] : rooms) list += (list.empty() ? "" : ",") + room;

    std::vector<std::string> args = presenceNode(*redis.nodes()[0]);
    args[1] = redis.url();
    ServerProcess a(args), b(args);
    // Healthy, and the slot map read: every master a part.
    for (const ServerProcess* node : {&a, &b}) {
        bool mapped = false;
        for (int i = 0; i < 400 && !mapped; ++i) {
            auto health = node->client().Get("/pushwire/healthz");
            mapped = health && health->status == 200 && json::parse(health->body)["broker"]["parts"].size() == 3;
            if (!mapped) std::this_thread::sleep_for(50ms);
        }
        REQUIRE(mapped);
    }
    WsClient watcher(b.wsUrl("?channels=" + list + "&session=" + std::string(32, 'w')));
    const std::string w = welcomeClient(watcher);
    WsClient onA(a.wsUrl("?channels=" + list + "&session=" + std::string(32, 'a')));
    const std::string x = welcomeClient(onA);
    auto sseOnA = std::make_unique<SseClient>(a.httpPort(),
                                              "/pushwire/sse?channels=" + list + "&session=" + std::string(32, 'b'));
    const std::string y = json::parse(sseOnA->waitFor(1, "welcome").at(0).data)["client"];
    for (const auto& [port, room] : rooms) {
        INFO(room << " on the master at port " << port);
        CHECK(sawEntry(watcher, "join", room, x));
        CHECK(sawEntry(watcher, "join", room, y));
        CHECK(becomes(b, room, {w, x, y}));
        CHECK(becomes(a, room, {w, x, y}));
        CHECK(presenceStats(a, room).value("clients", -1) == 3);
    }

    sseOnA.reset();  // y leaves every room (after the grace)
    for (const auto& [port, room] : rooms) {
        INFO(room);
        CHECK(sawEntry(watcher, "leave", room, y));
        CHECK(becomes(b, room, {w, x}));
    }

    a.kill9();  // x never says goodbye: the reaper on B removes it, channel by channel, on every master
    for (const auto& [port, room] : rooms) {
        INFO(room);
        CHECK(sawEntry(watcher, "leave", room, x));
        CHECK(becomes(b, room, {w}));
        CHECK(presenceStats(b, room).value("clients", -1) == 1);
    }
    CHECK(b.waitMetric("pushwire_presence_nodes_reaped_total", [](double v) { return v >= 1; }) >= 1);
    CHECK(b.metric("pushwire_presence_members_reaped_total").value_or(0) == 3);
}

}  // namespace presence_cluster_test
