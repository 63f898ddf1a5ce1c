// The server API over two nodes on one real redis-server (started by the test): a call
// to one node reaches the connections the other holds, revoked tokens are refused on all
// four transports on every node (also on a node started after the revocation), and
// `info` lists every node.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <set>

#include "../support/redis_cluster.hpp"
#include "../support/redis_server.hpp"
#include "broker/cluster_broker.hpp"
#include "harness.hpp"
#include "server_process.hpp"
#include "support/key_files.hpp"
#include "support/token_minter.hpp"

using namespace pushwire::test;
using namespace pushwire::testing;
using nlohmann::json;

namespace server_api_cluster_test {

namespace {

const std::string kSecret = "cluster-api-secret-0123456789abcdef";
const std::string kApiKey = "cluster-api-key-0123456789";

const KeyFiles& keys() {
    static KeyFiles files(kSecret, kApiKey);
    return files;
}

std::vector<std::string> nodeArgs(const RedisServer& redis) {
    return {"--broker",
            redis.url(),
            "--broker-prefix",
            "api",
            "--token-secret-file",
            keys().dir + "/secret",
            "--api-key-file",
            keys().dir + "/api-key",
            "--presence",
            "room:*"};
}

std::string tokenOf(const std::string& user, std::int64_t age = 0) {
    const std::int64_t now = unixNow();
    return mintHs256(kSecret, {{"sub", user}, {"iat", now - age}, {"exp", now - age + 600}, {"subscribe", {"*"}}});
}

json call(const ServerProcess& node, const std::string& method, const json& body, int* status = nullptr) {
    auto client = node.client();
    client.set_read_timeout(10, 0);
    auto response = client.Post(("/pushwire/api/" + method).c_str(), {{"Authorization", "ApiKey " + kApiKey}},
                                body.dump(), "application/json");
    if (status) *status = response ? response->status : 0;
    return response ? json::parse(response->body, nullptr, false) : json();
}

int status(const ServerProcess& node, const std::string& target) {
    auto client = node.client();
    auto response = client.Get(target.c_str());
    return response ? response->status : 0;
}

// Every transport refuses `token` on `node` with 401 token_revoked (WebSocket: close 4001).
void refusedEverywhere(const ServerProcess& node, const std::string& token) {
    CHECK(status(node, "/pushwire/poll?channel=a&token=" + token) == 401);
    CHECK(status(node, "/pushwire/longpoll?channel=a&timeout_ms=0&token=" + token) == 401);
    SseClient sse(node.httpPort(), "/pushwire/sse?channel=a&token=" + token);
    sse.waitFor(0);
    CHECK(sse.status() == 401);
    WsClient ws(node.wsUrl("?channel=a&token=" + token));
    CHECK(ws.waitClosed() == 4001);
    auto client = node.client();
    auto answer = client.Get(("/pushwire/poll?channel=a&token=" + token).c_str());
    REQUIRE(answer);
    CHECK(json::parse(answer->body)["error"]["code"] == "token_revoked");
}

// disconnect called on node a closes alice's WebSocket (4006) and event stream on node b.
void disconnectAcrossNodes(const ServerProcess& a, const ServerProcess& b) {
    WsClient ws(b.wsUrl("?channel=a&token=" + tokenOf("alice")));
    SseClient sse(b.httpPort(), "/pushwire/sse?channel=a&token=" + tokenOf("alice"));
    REQUIRE_FALSE(ws.waitFor(ofType("subscribed")).empty());
    REQUIRE(sse.waitFor(1, "welcome").size() == 1);
    int code = 0;
    json answer = call(a, "disconnect", {{"user", "alice"}, {"reconnect", true}}, &code);
    CHECK(code == 200);
    CHECK(answer["disconnected"] == 2);
    CHECK(ws.waitClosed() == 4006);
    CHECK(sse.waitFor(1, "disconnect").size() == 1);
}

// subscribe and unsubscribe called on node a move alice's WebSocket on node b.
void moveAcrossNodes(const ServerProcess& a, const ServerProcess& b) {
    WsClient ws(b.wsUrl("?channel=a&token=" + tokenOf("alice")));
    REQUIRE_FALSE(ws.waitFor(ofType("subscribed")).empty());
    CHECK(call(a, "subscribe", {{"user", "alice"}, {"channel", "extra"}})["connections"] == 1);
    CHECK_FALSE(ws.waitFor(ofType("subscribed")).empty());
    CHECK(call(a, "unsubscribe", {{"user", "alice"}, {"channel", "a"}})["connections"] == 1);
    CHECK_FALSE(ws.waitFor(ofType("unsubscribed")).empty());
}

}  // namespace

TEST_CASE("the server API reaches every node of a Redis deployment: info, disconnect, subscribe, revoke", "[broker]") {
    RedisServer redis;
    ServerProcess a(nodeArgs(redis)), b(nodeArgs(redis));
    REQUIRE(eventually([&] { return call(a, "info", json::object())["nodes"].size() == 2; }));
    // The other node's entry is what it wrote at its last heartbeat (at most a second old).
    json nodes;
    CHECK(eventually([&] {
        nodes = call(b, "info", json::object())["nodes"];
        return nodes.size() == 2 && nodes[1]["broker"]["state"] == "ok";
    }));
    REQUIRE(nodes.size() == 2);
    CHECK(nodes[0]["id"] != nodes[1]["id"]);

    // channels: a SCAN of the channels' keys in Redis, page by page.
    for (int i = 0; i < 12; ++i) {
        auto client = a.client();
        auto published =
            client.Post("/pushwire/publish", {{"Authorization", "ApiKey " + kApiKey}},
                        json{{"channel", "room:" + std::to_string(i)}, {"data", i}}.dump(), "application/json");
        REQUIRE(published);
        REQUIRE(published->status == 200);
    }
    std::set<std::string> listed;
    json page = {{"pattern", "room:*"}, {"limit", 5}};
    for (int pages = 0; pages < 100; ++pages) {
        json answer = call(b, "channels", page);
        REQUIRE(answer.contains("channels"));
        for (const auto& name : answer["channels"]) listed.insert(name.get<std::string>());
        if (answer["cursor"].is_null()) break;
        page["cursor"] = answer["cursor"];
    }
    CHECK(listed.size() == 12);

    const std::string bob = tokenOf("bob");
    WsClient bobWs(b.wsUrl("?channel=a&token=" + bob));
    REQUIRE_FALSE(bobWs.waitFor(ofType("subscribed")).empty());

    SECTION("presence on node a lists a member connected to node b") {
        WsClient ws(b.wsUrl("?channel=room:9&token=" + tokenOf("carol")));
        REQUIRE_FALSE(ws.waitFor(ofType("subscribed")).empty());
        json members;
        CHECK(eventually([&] {
            members = call(a, "presence", {{"channel", "room:9"}});
            return members.contains("members") && members["members"].size() == 1;
        }));
        CHECK(members["members"][0]["user"] == "carol");
        CHECK(call(a, "presence_stats", {{"channel", "room:9"}})["users"] == 1);
    }

    SECTION("disconnect on node a closes alice's connections on node b") { disconnectAcrossNodes(a, b); }

    SECTION("subscribe and unsubscribe on node a move alice's WebSocket on node b") { moveAcrossNodes(a, b); }

    SECTION("revoke on node a closes alice's connections on node b; her old tokens are refused everywhere") {
        const std::string old = tokenOf("alice", 100);
        WsClient ws(b.wsUrl("?channel=a&token=" + old));
        SseClient sse(b.httpPort(), "/pushwire/sse?channel=a&token=" + old);
        REQUIRE_FALSE(ws.waitFor(ofType("subscribed")).empty());
        REQUIRE(sse.waitFor(1, "welcome").size() == 1);
        const double held = b.metric("pushwire_longpolls_waiting").value_or(0);
        auto longpoll = std::async(std::launch::async, [&b, old] {
            auto client = b.client();
            client.set_read_timeout(60, 0);
            auto response = client.Get(("/pushwire/longpoll?channel=a&timeout_ms=60000&token=" + old).c_str());
            return response ? response->status : 0;
        });
        b.waitMetric("pushwire_longpolls_waiting", [&](double v) { return v > held; });

        int code = 0;
        CHECK(call(a, "revoke", {{"user", "alice"}, {"before", unixNow() - 10}}, &code) == json::object());
        CHECK(code == 200);
        CHECK(ws.waitClosed() == 4001);
        auto errors = sse.waitFor(1, "error");
        REQUIRE(errors.size() == 1);
        CHECK(json::parse(errors[0].data)["error"]["code"] == "token_revoked");
        CHECK(longpoll.get() == 401);

        refusedEverywhere(a, old);
        refusedEverywhere(b, old);
        // A token issued after the revocation is good on both.
        CHECK(status(a, "/pushwire/poll?channel=a&token=" + tokenOf("alice")) == 200);
        CHECK(status(b, "/pushwire/poll?channel=a&token=" + tokenOf("alice")) == 200);

        // A node started after the revocation loads it from Redis.
        ServerProcess later(nodeArgs(redis));
        REQUIRE(eventually([&] { return status(later, "/pushwire/poll?channel=a&token=" + old) == 401; }));
        refusedEverywhere(later, old);
    }
    // Bob was never touched.
    CHECK(bobWs.waitClosed(100ms) == 0);
}

TEST_CASE("the server API on a Redis Cluster: a call to one node acts on the other, through the {api} slot's master",
          "[broker]") {
    RedisCluster redis;
    // The nodes reach the cluster through its first seed, which does not own the {api}
    // slot (nor, before issue 26's fix, P:api:nodes): every key and channel of the server
    // API is answered MOVED there, and must be followed.
    const std::string seed = "127.0.0.1:" + std::to_string(redis.nodes()[0]->port());
    RedisServer* owner = redis.masterOf(pushwire::server::clusterSlot("{api}"));
    REQUIRE(owner);
    REQUIRE("127.0.0.1:" + std::to_string(owner->port()) != seed);
    REQUIRE(redis.masterOf(pushwire::server::clusterSlot("api:api:nodes")) != redis.nodes()[0]);
    std::vector<std::string> args = nodeArgs(*redis.nodes()[0]);
    args[1] = redis.url();
    ServerProcess a(args), b(args);
    REQUIRE(eventually([&] { return call(a, "info", json::object())["nodes"].size() == 2; }, 30000ms));
    REQUIRE(eventually([&] { return call(b, "info", json::object())["nodes"].size() == 2; }, 30000ms));

    SECTION("disconnect") { disconnectAcrossNodes(a, b); }

    SECTION("subscribe and unsubscribe") { moveAcrossNodes(a, b); }

    SECTION("revoke: honoured by both nodes, and by a node started later") {
        const std::string old = tokenOf("alice", 100);
        WsClient ws(b.wsUrl("?channel=a&token=" + old));
        REQUIRE_FALSE(ws.waitFor(ofType("subscribed")).empty());
        int code = 0;
        CHECK(call(a, "revoke", {{"user", "alice"}, {"before", unixNow() - 10}}, &code) == json::object());
        CHECK(code == 200);
        CHECK(ws.waitClosed() == 4001);
        refusedEverywhere(a, old);
        refusedEverywhere(b, old);
        CHECK(status(b, "/pushwire/poll?channel=a&token=" + tokenOf("alice")) == 200);
        // Stored in the {api} slot's master: a node started later loads it from there.
        CHECK(owner->cli({"ZCARD", "api:{api}:revoked"}) == "1\n");
        ServerProcess later(args);
        REQUIRE(eventually([&] { return status(later, "/pushwire/poll?channel=a&token=" + old) == 401; }, 30000ms));
    }
}

TEST_CASE(
    "the server API on a Redis Cluster while the {api} slot is migrated by hand: info, revoke and the heartbeats "
    "follow ASK to the keys moved, nothing answers 503",
    "[broker]") {
    RedisCluster redis;  // its own: the slot map is changed
    std::vector<std::string> args = nodeArgs(*redis.nodes()[0]);
    args[1] = redis.url();
    ServerProcess a(args), b(args);
    REQUIRE(eventually([&] { return call(a, "info", json::object())["nodes"].size() == 2; }, 30000ms));
    REQUIRE(eventually([&] { return call(b, "info", json::object())["nodes"].size() == 2; }, 30000ms));
    int code = 0;
    CHECK(call(a, "revoke", {{"user", "alice"}, {"before", unixNow() - 10}}, &code) == json::object());
    REQUIRE(code == 200);

    const int slot = pushwire::server::clusterSlot("{api}");
    RedisServer* source = redis.masterOf(slot);
    REQUIRE(source);
    const auto masters = redis.masters();
    RedisServer* target = masters[0] == source ? masters[1] : masters[0];
    REQUIRE(RedisCluster::openMigration(*source, *target, slot));
    // Every key of the server API moved (node set, node infos, revocations): the source
    // answers ASK for each of them from now on.
    REQUIRE(RedisCluster::migrateKeys(*source, *target, slot, "{api}") >= 3);
    REQUIRE(source->cli({"EXISTS", "api:{api}:revoked"}).rfind("ASK ", 0) == 0);

    // Read and written through ASK, by either node: the node set, each node's info.
    for (const ServerProcess* node : {&a, &b}) {
        for (int round = 0; round < 3; ++round) {  // over a few heartbeats (SADD, SET: ASK too)
            const json info = call(*node, "info", json::object(), &code);
            CHECK(code == 200);
            CHECK(info["nodes"].size() == 2);
            std::this_thread::sleep_for(1000ms);  // ClusterControl::kHeartbeatMs
        }
    }
    const std::string old = tokenOf("bob", 100);
    WsClient ws(a.wsUrl("?channel=a&token=" + old));
    REQUIRE_FALSE(ws.waitFor(ofType("subscribed")).empty());
    CHECK(call(b, "revoke", {{"user", "bob"}, {"before", unixNow() - 10}}, &code) == json::object());
    CHECK(code == 200);
    CHECK(ws.waitClosed() == 4001);
    refusedEverywhere(a, old);
    // A node started now loads the revocations from the moved key (ASK too).
    ServerProcess later(args);
    REQUIRE(eventually([&] { return status(later, "/pushwire/poll?channel=a&token=" + old) == 401; }, 30000ms));
    CHECK(status(later, "/pushwire/poll?channel=a&token=" + tokenOf("alice", 100)) == 401);
    const double asks = a.metric("pushwire_broker_cluster_asks_total").value_or(0) +
                        b.metric("pushwire_broker_cluster_asks_total").value_or(0) +
                        later.metric("pushwire_broker_cluster_asks_total").value_or(0);
    CHECK(asks > 0);
    WARN("server API commands answered ASK and followed by the three nodes: " << asks);

    REQUIRE(RedisCluster::closeMigration(*source, *target, slot));
    CHECK(target->cli({"ZCARD", "api:{api}:revoked"}) == "2\n");
    REQUIRE(eventually([&] { return call(a, "info", json::object())["nodes"].size() == 3; }, 30000ms));
}

}  // namespace server_api_cluster_test
