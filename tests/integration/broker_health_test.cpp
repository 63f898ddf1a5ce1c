// A broker part that is connected but whose commands fail is not "ok" (issue 26, health):
// real Redis, started by the test, turned to refusing writes (`maxmemory 1` with
// `noeviction`: every write answers OOM, reads still work). /pushwire/healthz names the
// part and its error, the metrics count it, the other parts' channels keep working, and
// once the Redis is fixed the node reports "ok" again by itself (broker/command_health.hpp).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <thread>

#include "../support/redis_server.hpp"
#include "broker/routed_broker.hpp"
#include "harness.hpp"
#include "server_process.hpp"

using namespace pushwire::test;
using nlohmann::json;

namespace broker_health_test {

namespace {

// Every write refused with OOM; reads served.
void refuseWrites(const RedisServer& redis) {
    REQUIRE(redis.cli({"CONFIG", "SET", "maxmemory-policy", "noeviction"}) == "OK\n");
    REQUIRE(redis.cli({"CONFIG", "SET", "maxmemory", "1"}) == "OK\n");
}
void acceptWrites(const RedisServer& redis) { REQUIRE(redis.cli({"CONFIG", "SET", "maxmemory", "0"}) == "OK\n"); }

// The messages a long-poll of `channel` from `since` returns at once.
json messagesAfter(const ServerProcess& node, const std::string& channel, const std::string& since) {
    auto res =
        node.client().Get(("/pushwire/longpoll?channels=" + channel + "&timeout_ms=2000&since=" + since).c_str());
    REQUIRE(res);
    REQUIRE(res->status == 200);
    return json::parse(res->body)["messages"];
}

}  // namespace

TEST_CASE(
    "redis: a shard whose writes are refused (OOM) makes healthz degraded naming it and its error, the other "
    "shard keeps publishing and delivering, and healthz is ok again once a publish there succeeds",
    "[broker]") {
    RedisServer one, two;
    ServerProcess node({"--broker", one.url() + "," + two.url(), "--broker-prefix", "t"});
    waitStatus(node, "ok");
    const std::string onOne = channelOnShard("h", 0, 2), onTwo = channelOnShard("h", 1, 2);
    REQUIRE(tryPublish(node, onOne, "1") == 1);
    REQUIRE(tryPublish(node, onTwo, "1") == 1);

    refuseWrites(two);
    int status = 0;
    for (int i = 0; i < 3; ++i) {
        CHECK(tryPublish(node, onTwo, "2", &status) == 0);
        CHECK(status == 503);  // refused before it ran: certainly not stored
    }
    const json degraded = health(node, &status);
    CHECK(status == 200);  // the node stays in rotation: the other shard's channels work
    CHECK(degraded["status"] == "degraded");
    const json& parts = degraded["broker"]["parts"];
    REQUIRE(parts.size() == 2);
    CHECK(parts[0]["available"] == true);
    CHECK(parts[0]["failing"] == false);
    CHECK(parts[0]["state"] == "ok");
    CHECK(parts[1]["name"] == two.url() + "/0");
    CHECK(parts[1]["available"] == false);
    CHECK(parts[1]["failing"] == true);
    const std::string state = parts[1]["state"].get<std::string>();
    CHECK(state.rfind("failing: ", 0) == 0);
    CHECK(state.find("OOM command not allowed") != std::string::npos);
    CHECK(state.find("\"2\"") == std::string::npos);  // no payload
    CHECK(degraded["broker"]["state"].get<std::string>().find(two.url() + "/0: failing: ") != std::string::npos);

    auto metrics = node.client().Get("/pushwire/metrics");
    REQUIRE(metrics);
    CHECK(metricValue(metrics->body, "pushwire_broker_shard_failing{shard=\"" + two.url() + "/0\"}") == 1.0);
    CHECK(metricValue(metrics->body, "pushwire_broker_shard_failing{shard=\"" + one.url() + "/0\"}") == 0.0);
    CHECK(metricValue(metrics->body, "pushwire_broker_shard_up{shard=\"" + two.url() + "/0\"}") == 1.0);
    CHECK(metricValue(metrics->body, "pushwire_broker_shard_error_replies_total{shard=\"" + two.url() + "/0\"}") >=
          3.0);
    CHECK(metricValue(metrics->body, "pushwire_broker_shard_error_replies_total{shard=\"" + one.url() + "/0\"}") ==
          0.0);
    CHECK(metricValue(metrics->body, "pushwire_broker_failing{broker=\"" + one.url() + "/0," + two.url() + "/0\"}") ==
          0.0);

    // The healthy shard's channels: published and delivered.
    REQUIRE(tryPublish(node, onOne, "2") == 2);
    const json delivered = messagesAfter(node, onOne, "0");
    REQUIRE(delivered.size() == 2);
    CHECK(delivered[1]["data"] == 2);

    acceptWrites(two);
    CHECK(health(node)["status"] == "degraded");  // nothing succeeded there yet
    REQUIRE(tryPublish(node, onTwo, "3") == 2);   // the first success ends it
    const json fixed = health(node, &status);
    CHECK(status == 200);
    CHECK(fixed["status"] == "ok");
    CHECK(fixed["broker"]["parts"][1]["failing"] == false);
    const json after = messagesAfter(node, onTwo, "0");
    REQUIRE(after.size() == 2);
    CHECK(after[1]["data"] == 3);
}

// Redis lets a script that has already written go on writing whatever `maxmemory` says:
// a channel's first publish used to begin with a DEL (not refused when out of memory), so
// publishes to new channel names filled a Redis under `noeviction` past its limit.
TEST_CASE(
    "redis: a Redis out of memory under noeviction refuses the first publish of a new channel too, and "
    "stores nothing",
    "[broker]") {
    RedisServer redis;
    ServerProcess node({"--broker", redis.url(), "--broker-prefix", "t"});
    waitStatus(node, "ok");
    REQUIRE(tryPublish(node, "known", "1") == 1);
    const std::string keys = redis.cli({"DBSIZE"});
    refuseWrites(redis);
    int status = 0;
    for (int i = 0; i < 5; ++i) {
        CHECK(tryPublish(node, "new-" + std::to_string(i), "1", &status) == 0);
        CHECK(status == 503);
    }
    auto keyed = node.client().Post(
        "/pushwire/publish", R"({"channel":"new-with-key","data":1,"idempotency_key":"key-1"})", "application/json");
    REQUIRE(keyed);
    CHECK(keyed->status == 503);
    CHECK(redis.cli({"DBSIZE"}) == keys);
    acceptWrites(redis);
    CHECK(tryPublish(node, "new-0", "2") == 1);
}

TEST_CASE(
    "redis: one Redis refusing writes is 503 unavailable with its error in healthz and negotiate after three "
    "refused publishes (not after one), and ok again by itself once it accepts them",
    "[broker]") {
    RedisServer redis;
    ServerProcess node({"--broker", redis.url(), "--broker-prefix", "t"});
    waitStatus(node, "ok");
    REQUIRE(tryPublish(node, "solo", "1") == 1);

    refuseWrites(redis);
    int status = 0;
    CHECK(tryPublish(node, "solo", "2", &status) == 0);
    CHECK(status == 503);
    CHECK(health(node, &status)["status"] == "ok");  // one error is no failing Redis
    CHECK(status == 200);
    for (int i = 0; i < 2; ++i) {
        CHECK(tryPublish(node, "solo", "2", &status) == 0);
        CHECK(status == 503);
    }
    const json down = health(node, &status);
    CHECK(status == 503);
    CHECK(down["status"] == "unavailable");
    const std::string state = down["broker"]["state"].get<std::string>();
    CHECK(state.rfind("failing: 3 commands that write in a row answered errors, the last: OOM", 0) == 0);
    auto negotiate = node.client().Get("/pushwire/negotiate");
    REQUIRE(negotiate);
    CHECK(negotiate->status == 503);
    CHECK(negotiate->body.find("broker_unavailable") != std::string::npos);
    CHECK(negotiate->body.find("refuses its commands") != std::string::npos);
    auto metrics = node.client().Get("/pushwire/metrics");
    REQUIRE(metrics);
    CHECK(metricValue(metrics->body, "pushwire_broker_up{broker=\"" + redis.url() + "/0\"}") == 1.0);
    CHECK(metricValue(metrics->body, "pushwire_broker_failing{broker=\"" + redis.url() + "/0\"}") == 1.0);
    CHECK(metricValue(metrics->body, "pushwire_broker_error_replies_total") >= 3.0);
    // Reads are served meanwhile: what was stored is delivered from history.
    CHECK(messagesAfter(node, "solo", "0").size() == 1);

    acceptWrites(redis);
    // No publish comes (a load balancer took the node out): the state lapses 10 s after the
    // last error (CommandHealth::kFailingHold).
    const auto took = waitStatus(node, "ok", 30s);
    CHECK(took > 5s);
    CHECK(health(node, &status)["status"] == "ok");
    CHECK(status == 200);
    REQUIRE(tryPublish(node, "solo", "3") == 2);
}

TEST_CASE(
    "redis: an ACL user that loses its scripting grant is failing with NOPERM in healthz, never with its password, "
    "and ok again at the first publish once the grant is back",
    "[broker]") {
    RedisServer redis;
    const std::string secret = "h3alth-Pa55-91f2";
    REQUIRE(redis.cli({"ACL", "SETUSER", "least", "on", ">" + secret, "~t:*", "&t:*", "+@all"}) == "OK\n");
    ServerProcess node({"--broker", "redis://least:@127.0.0.1:" + std::to_string(redis.port()), "--broker-prefix", "t"},
                       {"PUSHWIRE_BROKER_PASSWORD=" + secret});
    waitStatus(node, "ok");
    REQUIRE(tryPublish(node, "acl", "1") == 1);

    REQUIRE(redis.cli({"ACL", "SETUSER", "least", "-@scripting"}) == "OK\n");
    int status = 0;
    for (int i = 0; i < 3; ++i) {
        CHECK(tryPublish(node, "acl", "2", &status) == 0);
        CHECK(status == 503);
    }
    const json down = health(node, &status);
    CHECK(status == 503);
    CHECK(down["status"] == "unavailable");
    const std::string state = down["broker"]["state"].get<std::string>();
    CHECK(state.rfind("failing: 3 commands that write in a row answered errors, the last: NOPERM", 0) == 0);
    CHECK(down.dump().find(secret) == std::string::npos);
    auto metrics = node.client().Get("/pushwire/metrics");
    REQUIRE(metrics);
    CHECK(metrics->body.find(secret) == std::string::npos);
    CHECK(node.log().find(secret) == std::string::npos);

    REQUIRE(redis.cli({"ACL", "SETUSER", "least", "+@scripting"}) == "OK\n");
    REQUIRE(tryPublish(node, "acl", "3") == 2);
    CHECK(health(node, &status)["status"] == "ok");
    CHECK(status == 200);
}

namespace {

// Waits until healthz's body holds `text`; that body.
json waitHealthSays(const ServerProcess& node, const std::string& text, int* status = nullptr) {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    json seen;
    while (std::chrono::steady_clock::now() < deadline) {
        seen = health(node, status);
        if (seen.dump().find(text) != std::string::npos) return seen;
        std::this_thread::sleep_for(50ms);
    }
    FAIL("healthz never said '" << text << "': " << seen.dump());
    return seen;
}

// A publish's status and body.
std::pair<int, std::string> publishAnswer(const ServerProcess& node, const std::string& channel) {
    auto res =
        node.client().Post("/pushwire/publish", json{{"channel", channel}, {"data", 1}}.dump(), "application/json");
    return res ? std::pair<int, std::string>{res->status, res->body} : std::pair<int, std::string>{0, ""};
}

// Waits until the node's log holds `line` (the node's watch logs once a second).
void waitLog(const ServerProcess& node, const std::string& line) {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (node.log().find(line) == std::string::npos && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(50ms);
    INFO(node.log());
    REQUIRE(node.log().find(line) != std::string::npos);
}

std::size_t occurrences(const std::string& text, const std::string& what) {
    std::size_t count = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++count;
    return count;
}

}  // namespace

TEST_CASE(
    "redis: a --broker scheme that does not fit the Redis (redis+cluster:// without cluster mode, redis:// on a "
    "cluster node) is said at once, once in the log, in healthz and in every 503, naming the scheme to use",
    "[broker]") {
    struct Case {
        std::string name;
        std::vector<std::string> redisArgs;
        std::string scheme;  // what --broker says
        std::string said;    // what the node must say
    };
    const std::vector<Case> cases = {
        {"redis+cluster:// on a Redis without cluster mode", {}, "redis+cluster://", "use redis://"},
        {"redis:// on a Redis Cluster node", {"--cluster-enabled", "yes"}, "redis://", "use redis+cluster://"}};
    for (const Case& one : cases) {
        INFO(one.name);
        RedisServer redis(RedisServer::Config{false, 0, "", one.redisArgs});
        ServerProcess node(
            {"--broker", one.scheme + "127.0.0.1:" + std::to_string(redis.port()), "--broker-prefix", "t"});
        int status = 0;
        const json said = waitHealthSays(node, one.said, &status);
        CHECK(status == 503);
        CHECK(said["status"] == "unavailable");
        const auto [publishStatus, body] = publishAnswer(node, "c");
        CHECK(publishStatus == 503);
        CHECK_THAT(body, Catch::Contains("broker_unavailable") && Catch::Contains(one.said));
        // Tried again meanwhile (the Redis there may be replaced), said once.
        node.waitMetric(
            "pushwire_broker_reconnects_total", [](double v) { return v >= 4; }, 30000ms);
        CHECK(occurrences(node.log(), "broker_misconfigured") == 1);
        CHECK_THAT(node.log(), Catch::Contains(one.said));
        CHECK(redis.cli({"KEYS", "t:{c}*"}) == "\n");  // the publish wrote nothing there
    }
}

// A Redis restarting with its data answers LOADING to nearly every command until it has
// read it. The test makes the load slow and ends it when it has seen what it wants
// (key-load-delay, a debug setting Redis's own tests use; CONFIG SET is served while loading).
TEST_CASE(
    "redis: a Redis loading its dataset is named 'loading' in healthz, in the log once and in every 503 of publishes "
    "and history reads, and serves again by itself once loaded",
    "[broker]") {
    RedisServer redis(
        RedisServer::Config{false,
                            0,
                            "",
                            {"--enable-debug-command", "local", "--rdbcompression", "no", "--key-load-delay", "20000",
                             "--loading-process-events-interval-bytes", "1024"}});
    ServerProcess node({"--broker", redis.url(), "--broker-prefix", "t"});
    waitStatus(node, "ok");
    REQUIRE(tryPublish(node, "kept", "1") == 1);
    // About 200 s of loading at 20 ms a key (answering between keys), unless ended.
    REQUIRE(redis.cli({"DEBUG", "POPULATE", "10000", "filler", "1000"}) == "OK\n");
    REQUIRE(redis.cli({"SAVE"}) == "OK\n");
    redis.stop();
    redis.start();
    REQUIRE(redis.cli({"PING"}).rfind("LOADING", 0) == 0);

    int status = 0;
    const json loading = waitHealthSays(node, "loading", &status);
    CHECK(status == 503);
    CHECK(loading["status"] == "unavailable");
    CHECK_THAT(loading["broker"]["state"].get<std::string>(), Catch::Contains("loading its dataset"));
    const auto [publishStatus, publishBody] = publishAnswer(node, "kept");
    CHECK(publishStatus == 503);
    CHECK_THAT(publishBody, Catch::Contains("broker_unavailable") && Catch::Contains("loading"));
    auto read = node.client().Post("/pushwire/api/history", json{{"channel", "kept"}}.dump(), "application/json");
    REQUIRE(read);
    CHECK(read->status == 503);
    CHECK_THAT(read->body, Catch::Contains("broker_unavailable") && Catch::Contains("loading"));
    CHECK(redis.cli({"PING"}).rfind("LOADING", 0) == 0);  // all of that while it still loads
    CHECK(occurrences(node.log(), "broker_loading") == 1);

    REQUIRE(redis.cli({"CONFIG", "SET", "key-load-delay", "0"}) == "OK\n");
    waitStatus(node, "ok", 30s);
    // Served again (a restarted Redis is another process: the channel's next life begins).
    const std::uint64_t seq = tryPublish(node, "kept", "2");
    CHECK(seq >= 1);
    CHECK(messagesAfter(node, "kept", "0").size() == seq);
}

TEST_CASE(
    "redis: a script sent again after NOSCRIPT counts its errors as the first attempt does, and READONLY on it makes "
    "the node find the master again",
    "[broker]") {
    RedisServer redis, other;
    ServerProcess node({"--broker", redis.url(), "--broker-prefix", "t"});
    waitStatus(node, "ok");
    REQUIRE(tryPublish(node, "s", "1") == 1);

    // Redis lost its script cache and refuses writes: each publish is EVALSHA (NOSCRIPT), then
    // EVAL (OOM).
    refuseWrites(redis);
    const double errorsBefore = node.metric("pushwire_broker_errors_total").value_or(-1);
    int status = 0;
    for (int i = 0; i < 3; ++i) {
        REQUIRE(redis.cli({"SCRIPT", "FLUSH"}) == "OK\n");
        CHECK(tryPublish(node, "s", "2", &status) == 0);
        CHECK(status == 503);
    }
    CHECK(node.metric("pushwire_broker_errors_total").value_or(-1) - errorsBefore >= 3);
    CHECK_THAT(health(node)["broker"]["state"].get<std::string>(), Catch::Contains("failing: 3 commands that write"));
    acceptWrites(redis);
    REQUIRE(tryPublish(node, "s", "3") == 2);

    // Demoted to a replica, its script cache gone: EVALSHA (NOSCRIPT), then EVAL (READONLY).
    REQUIRE(redis.cli({"REPLICAOF", "127.0.0.1", std::to_string(other.port())}) == "OK\n");
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (redis.cli({"INFO", "replication"}).find("master_link_status:up") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(50ms);
    }
    REQUIRE(redis.cli({"SCRIPT", "FLUSH"}) == "OK\n");
    CHECK(tryPublish(node, "s", "4", &status) == 0);
    CHECK(status == 503);
    const json demoted = waitHealthSays(node, "is a replica", &status);
    CHECK(status == 503);
    // Once its connection is made again: the replica names its master, the address to give.
    const json named = waitHealthSays(node, "its master is 127.0.0.1:" + std::to_string(other.port()), &status);
    CHECK(status == 503);
    CHECK(node.log().find("warn broker_replica") != std::string::npos);
}

TEST_CASE(
    "redis: a Redis stopped and started is logged once as lost and once as back, and a shard that stays down is no "
    "flapping broker in the log",
    "[broker]") {
    SECTION("one Redis: its two connections lost make one line") {
        RedisServer redis;
        ServerProcess node({"--broker", redis.url(), "--broker-prefix", "t"});
        waitStatus(node, "ok");
        redis.stop();
        waitStatus(node, "unavailable");
        redis.start();
        waitStatus(node, "ok");
        waitLog(node, "broker_up");
        const std::string log = node.log();
        INFO(log);
        CHECK(occurrences(log, "broker_connection_lost") == 1);
        CHECK(occurrences(log, "broker_down") == 1);
        CHECK(occurrences(log, "broker_up") == 1);
    }
    SECTION("two shards, one down for several of the node's checks") {
        RedisServer one, two;
        ServerProcess node({"--broker", one.url() + "," + two.url(), "--broker-prefix", "t"});
        waitStatus(node, "ok");
        two.stop();
        waitStatus(node, "degraded");
        // Tried again and again meanwhile (the node's watch looks once a second).
        const double before = node.metric("pushwire_broker_reconnects_total").value_or(0);
        node.waitMetric(
            "pushwire_broker_reconnects_total", [before](double v) { return v >= before + 6; }, 30000ms);
        two.start();
        waitStatus(node, "ok");
        waitLog(node, "broker_parts_up");
        const std::string log = node.log();
        INFO(log);
        CHECK(occurrences(log, "broker_connection_lost") == 1);
        CHECK(occurrences(log, "broker_parts_down") == 1);
        CHECK(occurrences(log, "broker_parts_up") == 1);
        CHECK(occurrences(log, "broker_down") == 0);  // the node stayed up: no "lost and made again"
    }
}

}  // namespace broker_health_test
