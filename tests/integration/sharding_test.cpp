// Past one Redis (issue 26): nodes on channels sharded over independent Redis
// (--broker redis://a,redis://b) and on a real Redis Cluster (--broker
// redis+cluster://...), all started by the test. Each node delivers channels living on
// every shard / master, in order, once; a shard that is down fails only its channels; a
// channel moved to another shard is an explicit gap; a master killed during a publish
// storm is replaced by its replica and nothing is delivered twice under one (epoch, seq).
#include <atomic>
#include <catch2/catch.hpp>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "../support/redis_cluster.hpp"
#include "../support/redis_server.hpp"
#include "broker/cluster_broker.hpp"
#include "broker/routed_broker.hpp"
#include "harness.hpp"
#include "server_process.hpp"

using namespace pushwire::test;
using nlohmann::json;

namespace sharding_test {

namespace {

std::string shardsUrl(const std::vector<RedisServer*>& shards) {
    std::string out;
    for (RedisServer* shard : shards) out += (out.empty() ? "" : ",") + shard->url();
    return out;
}

struct Batch {
    std::vector<json> messages;
    std::vector<json> gaps;
    std::string cursor;
};

// One long-poll of `channels` from `since` (messages present at once come at once).
Batch longPoll(const ServerProcess& node, const std::string& channels, const std::string& since, int timeoutMs = 200) {
    auto c = node.client();
    c.set_read_timeout(10, 0);
    auto res = c.Get(
        ("/pushwire/longpoll?channels=" + channels + "&timeout_ms=" + std::to_string(timeoutMs) + "&since=" + since)
            .c_str());
    Batch out;
    if (!res || res->status != 200) return out;
    json answer = json::parse(res->body);
    for (const auto& m : answer["messages"]) out.messages.push_back(m);
    for (const auto& g : answer["gaps"]) out.gaps.push_back(g);
    out.cursor = answer["cursor"].get<std::string>();
    return out;
}

// Reads `channels` from `since` until `done` (or a generous deadline).
Batch readUntil(const ServerProcess& node, const std::string& channels, std::string since,
                const std::function<bool(const Batch&)>& done, std::chrono::seconds limit = 30s) {
    Batch all;
    all.cursor = since;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done(all) && std::chrono::steady_clock::now() < deadline) {
        Batch one = longPoll(node, channels, all.cursor, 1000);
        if (one.cursor.empty()) {
            std::this_thread::sleep_for(100ms);
            continue;
        }
        all.messages.insert(all.messages.end(), one.messages.begin(), one.messages.end());
        all.gaps.insert(all.gaps.end(), one.gaps.begin(), one.gaps.end());
        all.cursor = one.cursor;
    }
    return all;
}

std::size_t countOn(const Batch& batch, const std::string& channel) {
    std::size_t n = 0;
    for (const auto& m : batch.messages) n += m["channel"] == channel;
    return n;
}

}  // namespace

TEST_CASE(
    "channels sharded over two Redis: a node delivers both shards' channels, a stopped shard fails only its "
    "channels, and delivery resumes when it is back",
    "[broker]") {
    RedisServer one, two;
    const std::vector<std::string> args = {"--broker", shardsUrl({&one, &two}), "--broker-prefix", "t"};
    ServerProcess a(args), b(args);
    waitStatus(a, "ok");
    waitStatus(b, "ok");
    const std::string onOne = channelOnShard("s", 0, 2), onTwo = channelOnShard("s", 1, 2);
    const std::string both = onOne + "," + onTwo;
    for (int i = 1; i <= 5; ++i) {
        REQUIRE(tryPublish(b, onOne, std::to_string(i)) == static_cast<std::uint64_t>(i));
        REQUIRE(tryPublish(b, onTwo, std::to_string(i)) == static_cast<std::uint64_t>(i));
    }
    CHECK(one.cli({"EXISTS", "t:{" + onOne + "}:m"}) == "1\n");
    CHECK(two.cli({"EXISTS", "t:{" + onOne + "}:m"}) == "0\n");
    CHECK(two.cli({"EXISTS", "t:{" + onTwo + "}:m"}) == "1\n");
    Batch got = readUntil(a, both, "0", [&](const Batch& x) { return x.messages.size() >= 10; });
    REQUIRE(countOn(got, onOne) == 5);
    REQUIRE(countOn(got, onTwo) == 5);
    for (const std::string& channel : {onOne, onTwo}) {
        std::uint64_t next = 1;
        for (const auto& m : got.messages) {
            if (m["channel"] == channel) CHECK(m["seq"] == next++);
        }
    }
    json healthy = health(a);
    REQUIRE(healthy["broker"]["parts"].size() == 2);

    two.stop();
    waitStatus(a, "degraded");
    int status = 0;
    CHECK(health(a, &status)["broker"]["parts"][1]["available"] == false);
    CHECK(status == 200);  // the node stays in rotation: the other shard's channels work
    CHECK(tryPublish(b, onTwo, "6", &status) == 0);
    CHECK(status == 503);
    CHECK(tryPublish(b, onOne, "6") == 6);
    auto metrics = a.client().Get("/pushwire/metrics");
    REQUIRE(metrics);
    CHECK(metricValue(metrics->body, "pushwire_broker_shard_up{shard=\"" + two.url() + "/0\"}") == 0.0);
    CHECK(metricValue(metrics->body, "pushwire_broker_shard_up{shard=\"" + one.url() + "/0\"}") == 1.0);

    two.start();  // no persistence: the shard's channels start new lives
    waitStatus(a, "ok");
    waitStatus(b, "ok");
    CHECK(tryPublish(b, onTwo, "7") == 1);
    Batch after = readUntil(a, both, got.cursor,
                            [&](const Batch& x) { return countOn(x, onOne) >= 1 && countOn(x, onTwo) >= 1; });
    CHECK(countOn(after, onOne) == 1);
    CHECK(countOn(after, onTwo) == 1);
    bool explained = false;
    for (const auto& gap : after.gaps)
        explained = explained || (gap["channel"] == onTwo && gap["reason"] == "epoch_changed");
    CHECK(explained);
}

TEST_CASE(
    "a shard added: a channel that moved to it gives its clients one epoch_changed gap, never a silent loss, "
    "one that stayed resumes with none",
    "[broker]") {
    RedisServer one, two, three;
    // A channel that moves from a first shard to the new third one, and one that stays.
    std::string moved, stayed;
    for (int i = 0; moved.empty() || stayed.empty(); ++i) {
        const std::string name = "m-" + std::to_string(i);
        const auto key = pushwire::server::fnv1a64(name);
        const auto before = pushwire::server::jumpConsistentHash(key, 2),
                   after = pushwire::server::jumpConsistentHash(key, 3);
        if (after == 2 && moved.empty()) moved = name;
        if (after == before && stayed.empty()) stayed = name;
    }
    const std::string both = moved + "," + stayed;
    std::string cursor;
    {
        ServerProcess node({"--broker", shardsUrl({&one, &two})});
        waitStatus(node, "ok");
        for (int i = 1; i <= 3; ++i) {
            REQUIRE(tryPublish(node, moved, std::to_string(i)) == static_cast<std::uint64_t>(i));
            REQUIRE(tryPublish(node, stayed, std::to_string(i)) == static_cast<std::uint64_t>(i));
        }
        Batch got = readUntil(node, both, "0", [](const Batch& x) { return x.messages.size() >= 6; });
        REQUIRE(got.messages.size() == 6);
        cursor = got.cursor;
    }
    ServerProcess node({"--broker", shardsUrl({&one, &two, &three})});
    waitStatus(node, "ok");
    REQUIRE(tryPublish(node, moved, "4") == 1);  // a new life on the new shard
    REQUIRE(tryPublish(node, stayed, "4") == 4);
    Batch resumed = readUntil(node, both, cursor, [](const Batch& x) { return x.messages.size() >= 2; });
    REQUIRE(resumed.messages.size() == 2);
    REQUIRE(resumed.gaps.size() == 1);
    CHECK(resumed.gaps[0]["channel"] == moved);
    CHECK(resumed.gaps[0]["reason"] == "epoch_changed");
    for (const auto& m : resumed.messages) {
        CHECK(m["data"] == 4);
        CHECK(m["seq"] == (m["channel"] == moved ? 1 : 4));
    }
}

namespace {

RedisCluster& cluster() {
    static RedisCluster shared;
    return shared;
}

}  // namespace

TEST_CASE("two nodes on a Redis Cluster: channels on every master are delivered in order, once, on every transport",
          "[broker]") {
    RedisCluster& redis = cluster();
    REQUIRE(redis.waitHealthy());
    redis.flush();
    const std::vector<std::string> args = {"--broker", redis.url()};
    ServerProcess a(args), b(args);
    waitStatus(a, "ok");
    waitStatus(b, "ok");
    const auto channels = channelPerMaster(redis, "k-");
    REQUIRE(channels.size() == 3);
    CHECK(health(a)["broker"]["parts"].size() == 3);
    std::string list;
    for (const auto& [port, channel] : channels) list += (list.empty() ? "" : ",") + channel;
    SseClient sse(a.httpPort(), "/pushwire/sse?channels=" + list);
    RawWebSocket ws(a.httpPort(), "/pushwire/ws?channels=" + list);
    sse.waitFor(1, "welcome");
    ws.waitFor([](const auto& frames) { return frames.size() >= 2; });
    for (int i = 1; i <= 20; ++i) {
        for (const auto& [port, channel] : channels) {
            REQUIRE(tryPublish(b, channel, std::to_string(i)) == static_cast<std::uint64_t>(i));
        }
    }
    auto bySse = seqsByChannel(sseMessages(sse, 60, 20s));
    auto byWs = seqsByChannel(wsMessages(ws, 60, 20s));
    Batch polled = readUntil(a, list, "0", [](const Batch& x) { return x.messages.size() >= 60; });
    std::map<std::string, std::vector<int>> byPoll;
    for (const auto& m : polled.messages) byPoll[m["channel"]].push_back(m["seq"]);
    std::vector<int> expected;
    for (int i = 1; i <= 20; ++i) expected.push_back(i);
    for (const auto& [port, channel] : channels) {
        INFO(channel);
        CHECK(bySse[channel] == expected);
        CHECK(byWs[channel] == expected);
        CHECK(byPoll[channel] == expected);
    }
}

TEST_CASE(
    "a cluster master killed during a publish storm: its replica takes over, its channels resume, the others "
    "never stop, and no (epoch, seq) is delivered with two payloads",
    "[broker]") {
    RedisCluster& redis = cluster();
    REQUIRE(redis.waitHealthy());
    redis.flush();
    const std::vector<std::string> args = {"--broker", redis.url()};
    ServerProcess a(args), b(args);
    waitStatus(a, "ok");
    waitStatus(b, "ok");
    const auto channels = channelPerMaster(redis, "k-");
    REQUIRE(channels.size() == 3);
    std::string list;
    for (const auto& [port, channel] : channels) list += (list.empty() ? "" : ",") + channel;
    SseClient sse(a.httpPort(), "/pushwire/sse?channels=" + list);
    sse.waitFor(1, "welcome");

    RedisServer* victim = nullptr;
    for (RedisServer* node : redis.masters()) {
        if (node->port() == channels.begin()->first) victim = node;
    }
    REQUIRE(victim);
    const std::string hit = channels.begin()->second;

    // The storm: each channel in turn, from node B; what was acknowledged, and refusals.
    std::atomic<bool> stop{false}, killed{false};
    std::mutex lock;
    std::map<std::string, std::vector<std::pair<std::uint64_t, std::string>>> acknowledged;
    std::map<std::string, int> refusedAfterKill, acknowledgedAfterKill;
    std::thread storm([&] {
        for (int n = 0; !stop; ++n) {
            for (const auto& [port, channel] : channels) {
                const std::string data = std::to_string(n);
                int status = 0;
                const std::uint64_t seq = tryPublish(b, channel, data, &status);
                std::lock_guard<std::mutex> hold(lock);
                if (seq > 0) {
                    acknowledged[channel].emplace_back(seq, data);
                    if (killed) ++acknowledgedAfterKill[channel];
                } else if (killed) {
                    ++refusedAfterKill[channel];
                }
            }
            std::this_thread::sleep_for(5ms);
        }
    });
    auto acked = [&](const std::string& channel) {
        std::lock_guard<std::mutex> hold(lock);
        return acknowledged[channel].size();
    };
    while (acked(hit) < 30) std::this_thread::sleep_for(10ms);
    victim->kill();
    killed = true;
    // Publishing on the victim's channels resumes on the promoted replica (~2-3 s on an idle
    // machine; the deadline is for a hang only: a suite at full load once took past 30 s).
    const auto killedAt = std::chrono::steady_clock::now();
    const auto deadline = killedAt + 60s;
    auto resumed = [&] {
        std::lock_guard<std::mutex> hold(lock);
        return acknowledgedAfterKill[hit] >= 20;
    };
    while (!resumed() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
    stop = true;
    storm.join();
    std::string afterKill;
    {
        std::lock_guard<std::mutex> hold(lock);
        afterKill = std::to_string(acknowledgedAfterKill[hit]) + " acknowledged and " +
                    std::to_string(refusedAfterKill[hit]) + " refused on " + hit + " in " +
                    std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                       std::chrono::steady_clock::now() - killedAt)
                                       .count()) +
                    " ms after the kill";
    }
    INFO(afterKill << "; node B's health: " << health(b).dump());
    REQUIRE(resumed());
    for (const auto& [port, channel] : channels) {
        INFO(channel);
        if (channel != hit) CHECK(refusedAfterKill[channel] == 0);  // the other masters never stopped
    }

    // Everything acknowledged reaches the subscriber, or its channel was told of a gap.
    std::size_t total = 0;
    for (const auto& [channel, sent] : acknowledged) total += sent.size();
    sse.waitFor(total, "", 20s);
    std::map<std::string, int> life;  // a channel's epoch_changed gaps so far
    std::map<std::string, std::map<std::pair<int, std::uint64_t>, std::string>> seen;
    std::map<std::string, std::set<std::string>> delivered;
    std::map<std::string, std::uint64_t> last;
    for (const SseEvent& event : sse.all()) {
        if (event.event == "gap") {
            json gap = json::parse(event.data);
            if (gap["reason"] == "epoch_changed") {
                ++life[gap["channel"]];
                last[gap["channel"]] = 0;
            }
            continue;
        }
        if (!event.event.empty()) continue;
        json envelope = json::parse(event.data);
        const std::string channel = envelope["channel"];
        const std::uint64_t seq = envelope["seq"];
        const std::string data = envelope["data"].dump();
        auto [at, fresh] = seen[channel].try_emplace({life[channel], seq}, data);
        CHECK((fresh || at->second == data));  // never two payloads under one (epoch, seq)
        CHECK(seq > last[channel]);            // in order, once
        last[channel] = seq;
        delivered[channel].insert(data);
    }
    for (const auto& [channel, sent] : acknowledged) {
        INFO(channel);
        std::size_t missing = 0;
        for (const auto& [seq, data] : sent)
            missing += delivered[channel].count("\"" + data + "\"") == 0 && delivered[channel].count(data) == 0;
        // Lost only where the subscriber was told (the victim's channel, a new epoch).
        if (missing > 0) CHECK(life[channel] > 0);
        if (channel != hit) CHECK(missing == 0);
    }
}

TEST_CASE(
    "presence over two shards: members of both nodes on channels of both shards, and a node killed -9 is seen "
    "leaving on each",
    "[presence][broker]") {
    RedisServer one, two;
    const std::vector<std::string> args = {
        "--broker", shardsUrl({&one, &two}), "--presence", "room*", "--join-leave", "room*", "--presence-ttl",
        "3",        "--presence-grace-ms",   "300"};
    ServerProcess a(args), b(args);
    waitStatus(a, "ok");
    waitStatus(b, "ok");
    const std::string onOne = channelOnShard("room", 0, 2), onTwo = channelOnShard("room", 1, 2);
    auto present = [](const ServerProcess& node, const std::string& channel) {
        std::set<std::string> out;
        auto response = node.client().Get(("/pushwire/presence?channel=" + channel).c_str());
        if (!response || response->status != 200) {
            UNSCOPED_INFO("presence answered " << (response ? response->body : std::string("nothing")));
            return out;
        }
        const json body = json::parse(response->body);  // kept: the loop reads into it
        for (const auto& member : body["members"]) out.insert(member["client"]);
        return out;
    };
    auto becomes = [&](const ServerProcess& node, const std::string& channel, const std::set<std::string>& clients) {
        const auto deadline = std::chrono::steady_clock::now() + 30s;
        std::set<std::string> seen;
        while (std::chrono::steady_clock::now() < deadline) {
            seen = present(node, channel);
            if (seen == clients) return true;
            std::this_thread::sleep_for(50ms);
        }
        std::string text;
        for (const std::string& client : seen) text += client + " ";
        UNSCOPED_INFO("present on " << channel << ": " << text);
        return false;
    };
    auto clientOf = [](SseClient& sse) {
        return json::parse(sse.waitFor(1, "welcome").at(0).data)["client"].get<std::string>();
    };
    const std::string both = onOne + "," + onTwo;
    SseClient onB(b.httpPort(), "/pushwire/sse?channels=" + both + "&session=" + std::string(32, 'b'));
    SseClient onA(a.httpPort(), "/pushwire/sse?channels=" + both + "&session=" + std::string(32, 'a'));
    const std::string x = clientOf(onB), y = clientOf(onA);
    for (const std::string& channel : {onOne, onTwo}) {
        INFO(channel);
        REQUIRE(becomes(a, channel, {x, y}));
        REQUIRE(becomes(b, channel, {x, y}));
    }
    // Each channel's members live on its own shard (two, and the placeholder field '').
    CHECK(one.cli({"HLEN", "pushwire:{" + onOne + "}:pm"}) == "3\n");
    CHECK(two.cli({"HLEN", "pushwire:{" + onTwo + "}:pm"}) == "3\n");
    CHECK(one.cli({"EXISTS", "pushwire:{" + onTwo + "}:pm"}) == "0\n");
    a.kill9();
    for (const std::string& channel : {onOne, onTwo}) {
        INFO(channel);
        CHECK(becomes(b, channel, {x}));
    }
    // The leaves are entries of each channel's stream, delivered to the survivor.
    std::set<std::string> leftOn;
    for (const SseEvent& event : onB.waitFor(100, "*", 3s)) {
        if (event.data.find("\"leave\"") == std::string::npos) continue;
        json entry = json::parse(event.data);
        if (entry["member"]["client"] == y) leftOn.insert(entry["channel"]);
    }
    CHECK(leftOn == std::set<std::string>{onOne, onTwo});
}

namespace {

// A field of an INFO section ("errorstat_ASK:count=" → N), 0 when absent.
long long infoCount(const RedisServer& node, const std::string& section, const std::string& field) {
    const std::string info = node.cli({"INFO", section});
    const auto at = info.find(field);
    return at == std::string::npos ? 0 : std::stoll(info.substr(at + field.size()));
}

std::string trimmed(std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    return text;
}

}  // namespace

TEST_CASE(
    "a Redis Cluster slot migrated by hand while two nodes publish: ASK is followed with ASKING, MOVED after it, "
    "history intact, nothing lost or repeated",
    "[broker]") {
    RedisCluster redis;  // its own: the slot map is changed
    const std::vector<std::string> args = {"--broker", redis.url(), "--broker-prefix", "mig"};
    ServerProcess a(args), b(args);
    waitStatus(a, "ok");
    waitStatus(b, "ok");
    const auto masters = redis.masters();
    REQUIRE(masters.size() == 3);
    const std::string channel = "moving";
    const int slot = pushwire::server::clusterSlot(channel);
    RedisServer* source = redis.masterOf(slot);
    REQUIRE(source);
    RedisServer* target = masters[0] == source ? masters[1] : masters[0];
    const std::string sourceId = trimmed(source->cli({"CLUSTER", "MYID"}));
    const std::string targetId = trimmed(target->cli({"CLUSTER", "MYID"}));

    SseClient sse(b.httpPort(), "/pushwire/sse?channel=" + channel);
    REQUIRE(sse.waitFor(1, "welcome").size() == 1);
    int seq = 0;
    auto publishSome = [&](const ServerProcess& node, int count) {
        for (int i = 0; i < count; ++i) {
            ++seq;
            int status = 0;
            INFO("publish " << seq);
            REQUIRE(tryPublish(node, channel, std::to_string(seq), &status) == static_cast<std::uint64_t>(seq));
        }
    };
    publishSome(a, 10);

    // The migration opened: the keys are still on the source, which serves them.
    const std::string slotText = std::to_string(slot);
    REQUIRE(trimmed(target->cli({"CLUSTER", "SETSLOT", slotText, "IMPORTING", sourceId})) == "OK");
    REQUIRE(trimmed(source->cli({"CLUSTER", "SETSLOT", slotText, "MIGRATING", targetId})) == "OK");
    publishSome(a, 10);
    const long long asksBefore = infoCount(*source, "errorstats", "errorstat_ASK:count=");

    // The channel's keys moved (one MIGRATE: its position and stream together): the source
    // answers ASK, the target serves the publish only after ASKING.
    REQUIRE(trimmed(source->cli({"MIGRATE", "127.0.0.1", std::to_string(target->port()), "", "0", "5000", "KEYS",
                                 "mig:{moving}:m", "mig:{moving}:s"})) == "OK");
    publishSome(a, 10);
    publishSome(b, 10);
    const long long asks = infoCount(*source, "errorstats", "errorstat_ASK:count=") - asksBefore;
    const long long askings = infoCount(*target, "commandstats", "cmdstat_asking:calls=");
    UNSCOPED_INFO("publishes answered ASK by the source: " << asks << ", ASKING on the target: " << askings);
    CHECK(asks >= 20);
    CHECK(askings >= 20);

    // The migration closed: the target owns the slot; the nodes' maps are stale (MOVED).
    REQUIRE(trimmed(target->cli({"CLUSTER", "SETSLOT", slotText, "NODE", targetId})) == "OK");
    REQUIRE(trimmed(source->cli({"CLUSTER", "SETSLOT", slotText, "NODE", targetId})) == "OK");
    publishSome(a, 10);
    publishSome(b, 10);
    WARN("ASK answers followed: " << asks << " (ASKING sent: " << askings << ") of 20 publishes after the MIGRATE");

    std::vector<int> expected;
    for (int i = 1; i <= seq; ++i) expected.push_back(i);
    // History: every message once, in order, with its own payload, read through either node.
    for (const ServerProcess* node : {&a, &b}) {
        Batch all =
            readUntil(*node, channel, "0", [&](const Batch& x) { return x.messages.size() >= expected.size(); });
        std::vector<int> seqs;
        for (const auto& m : all.messages) {
            seqs.push_back(m["seq"]);
            CHECK(m["data"] == m["seq"]);
        }
        CHECK(seqs == expected);
        CHECK(all.gaps.empty());
    }
    // Live, on node B, which followed the channel on the source all along.
    std::vector<int> live;
    for (const SseEvent& event : sse.waitFor(expected.size(), "", 30s)) {
        const json envelope = json::parse(event.data, nullptr, false);
        if (envelope.contains("seq")) live.push_back(envelope["seq"]);
    }
    CHECK(live == expected);
}

namespace {

// The first name prefix + N whose Redis Cluster slot is `slot`.
std::string nameInSlot(const std::string& prefix, int slot) {
    for (int i = 0;; ++i) {
        const std::string name = prefix + std::to_string(i);
        if (pushwire::server::clusterSlot(name) == slot) return name;
    }
}

// POST /pushwire/api/<method> (the nodes run without an API key): status and body.
json api(const ServerProcess& node, const std::string& method, const json& body, int* status) {
    auto res = node.client().Post(("/pushwire/api/" + method).c_str(), body.dump(), "application/json");
    *status = res ? res->status : 0;
    return res ? json::parse(res->body, nullptr, false) : json();
}

std::set<std::string> membersOf(const ServerProcess& node, const std::string& channel, int* status) {
    auto res = node.client().Get(("/pushwire/presence?channel=" + channel).c_str());
    *status = res ? res->status : 0;
    std::set<std::string> out;
    if (!res || res->status != 200) return out;
    const json body = json::parse(res->body);  // kept: a range over a temporary's member would dangle
    for (const auto& member : body["members"]) out.insert(member["client"].get<std::string>());
    return out;
}

// The seqs of a history answer (server API `history`), checking each payload is its seq.
std::vector<int> historySeqs(const json& answer) {
    std::vector<int> out;
    for (const auto& m : answer["messages"]) {
        out.push_back(m["seq"]);
        CHECK(m["data"] == m["seq"]);
    }
    return out;
}

std::string epochOf(const std::string& position) { return position.substr(0, position.find('~')); }

}  // namespace

TEST_CASE(
    "a Redis Cluster slot held migrating with some channels' keys moved: history, resume and presence follow ASK on "
    "both nodes, and a quiet channel moved keeps its epoch and history",
    "[broker][presence]") {
    RedisCluster redis;  // its own: the slot map is changed
    const std::vector<std::string> args = {"--broker",       redis.url(), "--broker-prefix",     "rs",
                                           "--presence",     "room*",     "--join-leave",        "room*",
                                           "--presence-ttl", "3",         "--presence-grace-ms", "300"};
    ServerProcess a(args), b(args);
    waitStatus(a, "ok");
    waitStatus(b, "ok");
    for (const ServerProcess* node : {&a, &b}) {
        const auto deadline = std::chrono::steady_clock::now() + 20s;
        while (health(*node)["broker"]["parts"].size() != 3 && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(50ms);
        REQUIRE(health(*node)["broker"]["parts"].size() == 3);  // the slot map read
    }
    // Four channels of one slot: `read` (moved, read and published during the migration),
    // `quiet` (moved, untouched until the slot is the target's), a presence room (moved),
    // `stays` (its keys left on the source).
    const int slot = pushwire::server::clusterSlot("read");
    const std::string read = "read", quiet = nameInSlot("quiet", slot), room = nameInSlot("room", slot),
                      stays = nameInSlot("stays", slot);
    RedisServer* source = redis.masterOf(slot);
    REQUIRE(source);
    const auto masters = redis.masters();
    RedisServer* target = masters[0] == source ? masters[1] : masters[0];

    for (const std::string& channel : {read, quiet, stays}) {
        for (int i = 1; i <= 5; ++i) REQUIRE(tryPublish(a, channel, std::to_string(i)) == std::uint64_t(i));
    }
    int status = 0;
    const json before = api(a, "history", {{"channel", quiet}}, &status);
    REQUIRE(status == 200);
    const std::string quietEpoch = epochOf(before["position"]);
    // Cursors after seq 2, as clients that read two would hold (SSE ids: positions).
    auto cursorAfter2 = [&](const std::string& channel) {
        SseClient partial(a.httpPort(), "/pushwire/sse?channel=" + channel + "&since=0");
        auto events = partial.waitFor(5);
        REQUIRE(events.size() == 5);
        return events[1].id;
    };
    const std::string readCursor = cursorAfter2(read), quietCursor = cursorAfter2(quiet);
    auto x = std::make_unique<WsClient>(b.wsUrl("?channel=" + room + "&session=" + std::string(32, 'x')));
    const std::string xId = json::parse(
        x->waitFor([](const std::string& f) { return f.find("\"welcome\"") != std::string::npos; }))["client"];
    auto members = [&](const ServerProcess& node, const std::set<std::string>& want) {
        const auto deadline = std::chrono::steady_clock::now() + 20s;
        std::set<std::string> seen;
        while (std::chrono::steady_clock::now() < deadline) {
            seen = membersOf(node, room, &status);
            if (status != 200) {
                UNSCOPED_INFO("GET /pushwire/presence?channel=" << room << ": " << status);
                return false;  // no 503 while the slot migrates
            }
            if (seen == want) return true;
            std::this_thread::sleep_for(50ms);
        }
        UNSCOPED_INFO("members of " << room << ": " << seen.size() << " (want " << want.size() << ")");
        return false;
    };
    REQUIRE(members(a, {xId}));
    const double asksBefore = a.metric("pushwire_broker_cluster_asks_total").value_or(0) +
                              b.metric("pushwire_broker_cluster_asks_total").value_or(0);

    // The migration opened, and three channels' keys moved: the source answers ASK for them.
    REQUIRE(RedisCluster::openMigration(*source, *target, slot));
    for (const std::string& channel : {read, quiet, room})
        REQUIRE(RedisCluster::migrateKeys(*source, *target, slot, "{" + channel + "}") > 0);
    // The source sends a moved channel's keys on (ASK); the target serves them only after ASKING.
    REQUIRE(source->cli({"EXISTS", "rs:{" + read + "}:m"}).rfind("ASK ", 0) == 0);
    REQUIRE(target->cli({"EXISTS", "rs:{" + read + "}:m"}).rfind("MOVED ", 0) == 0);
    REQUIRE(trimmed(source->cli({"EXISTS", "rs:{" + stays + "}:m"})) == "1");

    for (const ServerProcess* node : {&a, &b}) {
        INFO("node " << (node == &a ? "a" : "b"));
        // History of a moved channel, and of one left on the source.
        for (const std::string& channel : {read, stays}) {
            const json page = api(*node, "history", {{"channel", channel}}, &status);
            REQUIRE(status == 200);
            CHECK(historySeqs(page) == std::vector<int>{1, 2, 3, 4, 5});
        }
        // Resume from a cursor: long-poll, and SSE with Last-Event-ID.
        Batch polled = longPoll(*node, read, readCursor);
        std::vector<int> seqs;
        for (const auto& m : polled.messages) seqs.push_back(m["seq"]);
        CHECK(seqs == std::vector<int>{3, 4, 5});
        CHECK(polled.gaps.empty());
        SseClient resumed(node->httpPort(), "/pushwire/sse?channel=" + read, "Last-Event-ID: " + readCursor + "\r\n");
        seqs.clear();
        for (const SseEvent& event : resumed.waitFor(3, "", 10s)) seqs.push_back(json::parse(event.data)["seq"]);
        CHECK(seqs == std::vector<int>{3, 4, 5});
        CHECK(resumed.waitFor(1, "gap", 200ms).empty());
    }
    // A publish to the moved channel, then its history on both nodes.
    REQUIRE(tryPublish(b, read, "6", &status) == 6u);
    for (const ServerProcess* node : {&a, &b}) {
        const json page = api(*node, "history", {{"channel", read}}, &status);
        REQUIRE(status == 200);
        CHECK(historySeqs(page) == std::vector<int>{1, 2, 3, 4, 5, 6});
    }
    // Presence of the moved room: a join on A, read on both, a leave.
    auto y = std::make_unique<WsClient>(a.wsUrl("?channel=" + room + "&session=" + std::string(32, 'y')));
    const std::string yId = json::parse(
        y->waitFor([](const std::string& f) { return f.find("\"welcome\"") != std::string::npos; }))["client"];
    CHECK(!x->waitFor(
                [&](const std::string& f) {
                    auto j = json::parse(f, nullptr, false);
                    return j.value("type", "") == "join" && j["member"]["client"] == yId;
                },
                15000ms)
               .empty());
    CHECK(members(a, {xId, yId}));
    CHECK(members(b, {xId, yId}));
    y.reset();
    CHECK(members(b, {xId}));
    CHECK(members(a, {xId}));
    // A channel's keys split between the two (its stream moved, its position not yet): Redis
    // answers TRYAGAIN on both sides; waited out (20 times, 50 ms apart), then 503, nothing
    // stored. Once the rest moved, the publish goes through ASK and continues the seq.
    const double waitsBefore = a.metric("pushwire_broker_cluster_tryagains_total").value_or(0);
    REQUIRE(RedisCluster::migrateKeys(*source, *target, slot, "{" + stays + "}:s") == 1);
    CHECK(tryPublish(a, stays, "6", &status) == 0);
    CHECK(status == 503);
    CHECK(a.metric("pushwire_broker_cluster_tryagains_total").value_or(0) - waitsBefore >= 20);
    REQUIRE(RedisCluster::migrateKeys(*source, *target, slot, "{" + stays + "}:m") == 1);
    REQUIRE(tryPublish(a, stays, "6", &status) == 6u);
    CHECK(historySeqs(api(b, "history", {{"channel", stays}}, &status)) == std::vector<int>{1, 2, 3, 4, 5, 6});
    const double asks = a.metric("pushwire_broker_cluster_asks_total").value_or(0) +
                        b.metric("pushwire_broker_cluster_asks_total").value_or(0) - asksBefore;
    const double tryAgains = a.metric("pushwire_broker_cluster_tryagains_total").value_or(0) +
                             b.metric("pushwire_broker_cluster_tryagains_total").value_or(0);
    CHECK(asks > 0);
    WARN("ASK answers followed by the two nodes while the slot migrated: " << asks
                                                                           << "; TRYAGAIN waited out: " << tryAgains);

    // The migration closed: the target owns the slot. The quiet channel, untouched since its
    // keys moved, is met there with the source's `r`: its life goes on (the source is a live
    // master that handed over exact copies), no gap, history intact.
    REQUIRE(RedisCluster::closeMigration(*source, *target, slot));
    for (const ServerProcess* node : {&a, &b}) {
        INFO("node " << (node == &a ? "a" : "b"));
        SseClient resumed(node->httpPort(), "/pushwire/sse?channel=" + quiet, "Last-Event-ID: " + quietCursor + "\r\n");
        std::vector<int> seqs;
        for (const SseEvent& event : resumed.waitFor(3, "", 10s)) seqs.push_back(json::parse(event.data)["seq"]);
        CHECK(seqs == std::vector<int>{3, 4, 5});
        CHECK(resumed.waitFor(1, "gap", 300ms).empty());
        Batch polled = longPoll(*node, quiet, quietCursor);
        CHECK(polled.gaps.empty());
        CHECK(polled.messages.size() == 3);
    }
    REQUIRE(tryPublish(a, quiet, "6", &status) == 6u);  // the seq goes on
    for (const ServerProcess* node : {&a, &b}) {
        const json page = api(*node, "history", {{"channel", quiet}}, &status);
        REQUIRE(status == 200);
        CHECK(historySeqs(page) == std::vector<int>{1, 2, 3, 4, 5, 6});
        CHECK(epochOf(page["position"]) == quietEpoch);
    }
}

// A Redis Cluster node back before the cluster is (a master restarted; here the cluster is
// down for another master's death) serves sharded pub/sub but answers CLUSTERDOWN to
// commands on keys. A subscriber connection that came back then subscribed again, and the
// read that syncs each of its channels was refused on a commands connection that stayed
// up: nothing read them again, and a subscriber that stayed connected got nothing more of
// them, no message and no gap, while their publishes were acknowledged (seen by hand: a
// master killed -9 and restarted, 230 acknowledged messages never delivered).
TEST_CASE(
    "a Redis Cluster node's channels synced while the cluster is down (CLUSTERDOWN) are synced again: a "
    "subscriber that stayed gets what is published once the cluster is up",
    "[broker]") {
    RedisCluster redis(3, 0);  // its own, without replicas: a master killed leaves its slots unserved
    ServerProcess node({"--broker", redis.url()});
    waitStatus(node, "ok");
    const auto masters = redis.masters();
    REQUIRE(masters.size() == 3);
    RedisServer* stays = masters[0];
    RedisServer* killed = masters[1];
    std::string channel;
    for (int i = 0; channel.empty() && i < 10000; ++i) {
        const std::string name = "down-" + std::to_string(i);
        if (redis.masterOf(pushwire::server::clusterSlot(name)) == stays) channel = name;
    }
    REQUIRE(!channel.empty());
    SseClient sse(node.httpPort(), "/pushwire/sse?channel=" + channel);
    REQUIRE(sse.waitFor(1, "welcome").size() == 1);
    REQUIRE(tryPublish(node, channel, "1") == 1);
    REQUIRE(sse.waitFor(1).size() == 1);

    // Every slot must be served for the cluster to be up (the harness's clusters do without).
    for (RedisServer* one : redis.nodes()) {
        REQUIRE(one->cli({"CONFIG", "SET", "cluster-require-full-coverage", "yes"}) == "OK\n");
    }
    killed->kill();
    REQUIRE(eventually(
        [&] {
            return stays->cli({"CLUSTER", "INFO"}).find("cluster_state:fail") != std::string::npos;
        },
        30s));
    // The node's subscriber connection to `stays` is dropped: it comes back and subscribes
    // again at once (SSUBSCRIBE is served while the cluster is down), and the channel's
    // sync read is answered CLUSTERDOWN.
    const std::string topic = "pushwire:{" + channel + "}:p";
    stays->cli({"CLIENT", "KILL", "TYPE", "pubsub"});
    REQUIRE(eventually([&] { return stays->cli({"PUBSUB", "SHARDCHANNELS"}).find(topic) != std::string::npos; }, 30s));
    REQUIRE(stays->cli({"CLUSTER", "INFO"}).find("cluster_state:fail") != std::string::npos);

    killed->start();
    REQUIRE(redis.waitHealthy());
    int status = 0;
    REQUIRE(eventually([&] { return tryPublish(node, channel, "2", &status) != 0; }, 30s));
    bool delivered = false;
    for (const SseEvent& event : sse.waitFor(2, "", 20s)) delivered |= json::parse(event.data)["data"] == 2;
    INFO(json(sse.all().size()).dump() + " events; healthz: " + health(node).dump());
    CHECK(delivered);
}

}  // namespace sharding_test
