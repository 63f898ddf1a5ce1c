// Redis as production runs it (docs/scaling.md, "Production Redis"): an ACL user, the
// password from a file or the environment (never on the command line, never printed), and
// TLS (rediss://) against a real redis-server --tls-port with a CA and certificates the test
// makes with the openssl CLI, also to a Redis Cluster whose nodes speak only TLS.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "broker/cluster_broker.hpp"
#include "harness.hpp"
#include "server_process.hpp"
#include "support/redis_cluster.hpp"
#include "support/redis_server.hpp"

using namespace pushwire::test;
using nlohmann::json;

namespace redis_production_test {

namespace {

const std::string kSecret = "s3cr3t-Pa55-7a1c9e";

bool waitStatus(const ServerProcess& node, int status) {
    for (int i = 0; i < 500; ++i) {
        auto health = node.client().Get("/pushwire/healthz");
        if (health && health->status == status) return true;
        std::this_thread::sleep_for(20ms);
    }
    return false;
}

std::string get(const ServerProcess& node, const std::string& target) {
    auto res = node.client().Get(target);
    return res ? res->body : std::string();
}

// Everything a node shows about itself: its log, healthz, metrics.
std::string everythingShown(const ServerProcess& node) {
    return node.log() + get(node, "/pushwire/healthz") + get(node, "/pushwire/metrics");
}

std::string runServer(const std::string& environment, const std::string& arguments, int* status = nullptr) {
    FILE* pipe = popen((environment + " " + serverBinary() + " " + arguments + " 2>&1").c_str(), "r");
    REQUIRE(pipe);
    std::string out;
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
    const int code = WEXITSTATUS(pclose(pipe));
    if (status) *status = code;
    return out;
}

std::uint64_t publishOn(const ServerProcess& node, const std::string& channel) {
    auto res =
        node.client().Post("/pushwire/publish", R"({"channel":")" + channel + R"(","data":1})", "application/json");
    REQUIRE(res);
    INFO(res->body);
    REQUIRE(res->status == 200);
    return json::parse(res->body)["seq"].get<std::uint64_t>();
}

void openssl(const std::string& arguments) {
    REQUIRE(std::system(("openssl " + arguments + " >/dev/null 2>&1").c_str()) == 0);
}

// A CA, a server certificate for 127.0.0.1 signed by it, a client one, and another CA.
void makeCertificates(const TempDir& dir) {
    const std::string d = dir.path + "/";
    openssl("req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca -keyout " + d + "ca.key -out " + d + "ca.crt");
    openssl("req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=other-ca -keyout " + d + "other.key -out " + d +
            "other.crt");
    dir.write("san.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    for (const std::string name : {"redis", "client"}) {
        openssl("req -newkey rsa:2048 -nodes -subj /CN=" + name + " -keyout " + d + name + ".key -out " + d + name +
                ".csr");
        openssl("x509 -req -days 2 -in " + d + name + ".csr -CA " + d + "ca.crt -CAkey " + d +
                "ca.key -CAcreateserial" + " -extfile " + d + "san.ext -out " + d + name + ".crt");
    }
}

}  // namespace

TEST_CASE("redis: an ACL user with the password from a file or the environment, and the password is never shown",
          "[broker]") {
    RedisServer redis;
    REQUIRE(redis.cli({"ACL", "SETUSER", "pusher", "on", ">" + kSecret, "~*", "&*", "+@all"}) == "OK\n");
    REQUIRE(redis.cli({"ACL", "SETUSER", "default", "off"}) == "OK\n");  // nobody without a password
    TempDir dir;
    dir.write("password", kSecret + "\n");
    const std::string url = "redis://pusher:@127.0.0.1:" + std::to_string(redis.port());

    SECTION("from a file") {
        ServerProcess node({"--broker", url, "--broker-password-file", dir.file("password")});
        REQUIRE(waitStatus(node, 200));
        CHECK(publishOn(node, "acl") == 1);
        CHECK(everythingShown(node).find(kSecret) == std::string::npos);
        CHECK(get(node, "/pushwire/healthz").find("redis://") != std::string::npos);
    }
    SECTION("from the environment") {
        ServerProcess node({"--broker", url}, {"PUSHWIRE_BROKER_PASSWORD=" + kSecret});
        REQUIRE(waitStatus(node, 200));
        CHECK(publishOn(node, "acl") == 1);
        CHECK(everythingShown(node).find(kSecret) == std::string::npos);
    }
    SECTION("a wrong password: unavailable, and neither password is shown") {
        dir.write("wrong", "not-" + kSecret + "\n");
        ServerProcess node({"--broker", url, "--broker-password-file", dir.file("wrong")});
        REQUIRE(waitStatus(node, 503));
        const std::string shown = everythingShown(node);
        CHECK(shown.find(kSecret) == std::string::npos);
        CHECK_THAT(shown, Catch::Contains("WRONGPASS"));
    }
    SECTION("--print-config names the file and the user, never the password") {
        const std::string printed =
            runServer("PUSHWIRE_BROKER_PASSWORD=" + kSecret, "--broker " + url + " --print-config");
        CHECK(printed.find(kSecret) == std::string::npos);
        json config = json::parse(printed);
        CHECK(config["broker"] == "redis://pusher:***@127.0.0.1:" + std::to_string(redis.port()) + "/0");
        const std::string fromUrl = runServer("", "--broker redis://pusher:" + kSecret + "@127.0.0.1:1 --print-config");
        CHECK(fromUrl.find(kSecret) == std::string::npos);
    }
    SECTION("--broker-password on the command line is refused, without repeating it") {
        int status = 0;
        const std::string said = runServer("", "--broker " + url + " --broker-password " + kSecret, &status);
        CHECK(status == 2);
        CHECK_THAT(said, Catch::Contains("PUSHWIRE_BROKER_PASSWORD"));
        CHECK(said.find(kSecret) == std::string::npos);
    }
}

// A Redis whose AUTH was renamed away answers it "ERR unknown command 'AUTH', with args
// beginning with: '<the password>'": the node shows that AUTH failed and why, with what
// Redis quotes back cut off (and the password replaced wherever else it appears), in
// healthz, a publish's 503 and its log.
TEST_CASE("redis: a Redis that repeats AUTH's password in its error: the node names the error, never the password",
          "[broker]") {
    RedisServer::Config config;
    config.extra = {"--rename-command", "AUTH", ""};
    RedisServer redis(config);
    TempDir dir;
    dir.write("password", kSecret + "\n");
    ServerProcess node({"--broker", "redis://127.0.0.1:" + std::to_string(redis.port()), "--broker-password-file",
                        dir.file("password")});
    std::string health;
    eventually(
        [&] {
            health = get(node, "/pushwire/healthz");
            return health.find("unknown command") != std::string::npos;
        },
        10000ms);
    INFO(health);
    CHECK_THAT(health, Catch::Contains("AUTH: ERR unknown command 'AUTH'"));
    auto res = node.client().Post("/pushwire/publish", R"({"channel":"c","data":1})", "application/json");
    REQUIRE(res);
    CHECK(res->status == 503);
    CHECK_THAT(res->body, Catch::Contains("unknown command"));
    CHECK((everythingShown(node) + res->body).find(kSecret) == std::string::npos);
}

// The grants docs/scaling.md gives an ACL user ("Production Redis"), word for word: every
// command the node sends (and its scripts run) for publishing, subscribing, history,
// presence and the server API is allowed, and nothing else is needed (Redis's ACL LOG
// stays empty).
TEST_CASE("redis: an ACL user with exactly the grants docs/scaling.md lists runs every feature", "[broker]") {
    RedisServer redis;
    const std::vector<std::string> grants = {"~pushwire:*", "&pushwire:*", "+@read",       "+@write",
                                             "+@scripting", "+@pubsub",    "+@connection", "-@dangerous",
                                             "+info",       "+role",       "+time",        "+cluster|slots"};
    std::vector<std::string> setuser = {"ACL", "SETUSER", "least", "on", ">" + kSecret};
    setuser.insert(setuser.end(), grants.begin(), grants.end());
    REQUIRE(redis.cli(setuser) == "OK\n");
    TempDir dir;
    dir.write("password", kSecret + "\n");
    dir.write("apikey", "acl-api-key-0123456789\n");
    const std::string url = "redis://least:@127.0.0.1:" + std::to_string(redis.port());
    ServerProcess node({"--broker", url, "--broker-password-file", dir.file("password"), "--presence", "room*",
                        "--join-leave", "room*", "--presence-ttl", "3", "--api-key-file", dir.file("apikey"),
                        "--public-subscribe", "room*", "--public-publish", "room*"});
    REQUIRE(waitStatus(node, 200));
    SseClient subscriber(node.httpPort(), "/pushwire/sse?channel=room-1");
    REQUIRE(subscriber.waitFor(1, "welcome").size() == 1);
    // The subscriber's join is an entry of room-1's stream too: the publish's seq is 1 or 2.
    const std::uint64_t seq = publishOn(node, "room-1");
    CHECK(seq >= 1);
    auto c = node.client();
    auto history = c.Post("/pushwire/api/history", {{"Authorization", "ApiKey acl-api-key-0123456789"}},
                          json{{"channel", "room-1"}}.dump(), "application/json");
    REQUIRE(history);
    CHECK(history->status == 200);
    CHECK_THAT(history->body, Catch::Contains("\"seq\":" + std::to_string(seq)));
    auto presence = c.Get("/pushwire/presence?channel=room-1");
    REQUIRE(presence);
    CHECK(presence->status == 200);
    auto channels = c.Post("/pushwire/api/channels", {{"Authorization", "ApiKey acl-api-key-0123456789"}}, "{}",
                           "application/json");
    REQUIRE(channels);
    CHECK(channels->status == 200);
    // The node's timers run after those requests: a head check of room-1 (its read script's
    // XRANGE) and a presence heartbeat (its ZADD), as Redis counts the commands scripts call.
    const auto calls = [&redis](const std::string& command) {
        const std::string stats = redis.cli({"INFO", "commandstats"});
        const std::string field = "cmdstat_" + command + ":calls=";
        const auto at = stats.find(field);
        return at == std::string::npos ? 0LL : std::stoll(stats.substr(at + field.size()));
    };
    const long long reads = calls("xrange"), beats = calls("zadd");
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while ((calls("xrange") <= reads || calls("zadd") <= beats) && std::chrono::steady_clock::now() < deadline &&
           redis.cli({"ACL", "LOG"}).find_first_not_of("\r\n ") == std::string::npos) {
        std::this_thread::sleep_for(50ms);
    }
    CHECK(calls("xrange") > reads);
    CHECK(calls("zadd") > beats);
    const std::string refused = redis.cli({"ACL", "LOG"});
    INFO("ACL LOG: " << refused);
    CHECK(refused.find_first_not_of("\r\n ") == std::string::npos);
}

TEST_CASE("redis: a channel list cursor that is not one is 400 bad_cursor, not a broker error", "[broker]") {
    RedisServer one, two;
    TempDir dir;
    dir.write("apikey", "cursor-api-key-0123456789\n");
    const std::string single = "redis://127.0.0.1:" + std::to_string(one.port());
    const std::string sharded = single + ",redis://127.0.0.1:" + std::to_string(two.port());
    for (const std::string& broker : {single, sharded}) {
        INFO(broker);
        ServerProcess node({"--broker", broker, "--api-key-file", dir.file("apikey")});
        REQUIRE(waitStatus(node, 200));
        const double errorsBefore = node.metric("pushwire_broker_errors_total").value_or(-1);
        for (const std::string cursor : {"abc", "1:abc", "0:99999999999999999999999", "-1"}) {
            INFO(cursor);
            auto answer =
                node.client().Post("/pushwire/api/channels", {{"Authorization", "ApiKey cursor-api-key-0123456789"}},
                                   json{{"cursor", cursor}}.dump(), "application/json");
            REQUIRE(answer);
            INFO(answer->body);
            CHECK(answer->status == 400);
            CHECK_THAT(answer->body, Catch::Contains("bad_cursor"));
        }
        CHECK(node.metric("pushwire_broker_errors_total").value_or(-1) == errorsBefore);
    }
}

TEST_CASE("redis: rediss:// with the test's CA and a client certificate, and another CA fails clearly", "[broker]") {
    TempDir dir;
    makeCertificates(dir);
    const int tlsPort = freeTcpPort();
    RedisServer redis(RedisServer::Config{
        false,
        0,
        "",
        {"--tls-port", std::to_string(tlsPort), "--tls-cert-file", dir.file("redis.crt"), "--tls-key-file",
         dir.file("redis.key"), "--tls-ca-cert-file", dir.file("ca.crt"), "--tls-auth-clients", "yes"}});
    const std::string url = "rediss://127.0.0.1:" + std::to_string(tlsPort);

    SECTION("the right CA and a client certificate") {
        ServerProcess node({"--broker", url, "--broker-tls-ca", dir.file("ca.crt"), "--broker-tls-cert",
                            dir.file("client.crt"), "--broker-tls-key", dir.file("client.key")});
        REQUIRE(waitStatus(node, 200));
        SseClient subscriber(node.httpPort(), "/pushwire/sse?channel=tls");
        subscriber.waitFor(1, "welcome");
        CHECK(publishOn(node, "tls") == 1);
        CHECK(subscriber.waitFor(1, "", 10s).size() == 1);
        CHECK_THAT(get(node, "/pushwire/healthz"), Catch::Contains("rediss://"));
    }
    SECTION("another CA: unavailable, and the reason says the handshake failed") {
        ServerProcess node({"--broker", url, "--broker-tls-ca", dir.file("other.crt"), "--broker-tls-cert",
                            dir.file("client.crt"), "--broker-tls-key", dir.file("client.key")});
        REQUIRE(waitStatus(node, 503));
        CHECK_THAT(get(node, "/pushwire/healthz"), Catch::Contains("TLS handshake"));
    }
    SECTION("no client certificate where Redis asks for one: unavailable") {
        ServerProcess node({"--broker", url, "--broker-tls-ca", dir.file("ca.crt")});
        REQUIRE(waitStatus(node, 503));
    }
}

// The TLS mistakes of a first day each say what is wrong, in healthz and the log, within
// seconds: a certificate that names another address, a plain Redis port given as rediss://
// (it never answers the TLS hello: the node used to say "connecting" for ever), and a client
// key under a passphrase (OpenSSL used to ask for it on the terminal at every connect).
TEST_CASE(
    "redis: a rediss:// node says which TLS mistake it meets: a misnamed certificate, a plain port, a "
    "key under a passphrase",
    "[broker]") {
    TempDir dir;
    makeCertificates(dir);
    const std::string d = dir.path + "/";
    dir.write("misnamed.ext", "subjectAltName=IP:10.9.9.9,DNS:redis.example\n");
    openssl("req -newkey rsa:2048 -nodes -subj /CN=misnamed -keyout " + d + "misnamed.key -out " + d + "misnamed.csr");
    openssl("x509 -req -days 2 -in " + d + "misnamed.csr -CA " + d + "ca.crt -CAkey " + d +
            "ca.key -CAcreateserial -extfile " + d + "misnamed.ext -out " + d + "misnamed.crt");
    openssl("pkey -in " + d + "client.key -aes256 -passout pass:hunter2 -out " + d + "locked.key");
    const int tlsPort = freeTcpPort();
    RedisServer misnamed(RedisServer::Config{
        false,
        0,
        "",
        {"--tls-port", std::to_string(tlsPort), "--tls-cert-file", dir.file("misnamed.crt"), "--tls-key-file",
         dir.file("misnamed.key"), "--tls-ca-cert-file", dir.file("ca.crt"), "--tls-auth-clients", "no"}});
    RedisServer plain;
    const auto stateOf = [](const ServerProcess& node, const std::string& expected) {
        std::string state;
        for (int i = 0; i < 300 && state.find(expected) == std::string::npos; ++i) {
            auto health = node.client().Get("/pushwire/healthz");
            if (health && health->status == 200) return std::string("ok");
            if (health) state = json::parse(health->body)["broker"]["state"].get<std::string>();
            std::this_thread::sleep_for(20ms);
        }
        return state;
    };
    SECTION("a certificate of another address: IP address mismatch") {
        ServerProcess node(
            {"--broker", "rediss://127.0.0.1:" + std::to_string(tlsPort), "--broker-tls-ca", dir.file("ca.crt")});
        CHECK_THAT(stateOf(node, "mismatch"), Catch::Contains("IP address mismatch"));
    }
    SECTION("a plain port given as rediss://: no answer to the TLS hello, said within seconds") {
        ServerProcess node(
            {"--broker", "rediss://127.0.0.1:" + std::to_string(plain.port()), "--broker-tls-ca", dir.file("ca.crt")});
        CHECK_THAT(stateOf(node, "no answer"), Catch::Contains("tls-port"));
    }
    SECTION("a client key under a passphrase: refused, never asked for") {
        ServerProcess node({"--broker", "rediss://127.0.0.1:" + std::to_string(tlsPort), "--broker-tls-ca",
                            dir.file("ca.crt"), "--broker-tls-cert", dir.file("client.crt"), "--broker-tls-key",
                            dir.file("locked.key")});
        CHECK_THAT(stateOf(node, "bad decrypt"), Catch::Contains("bad decrypt"));
        CHECK(node.log().find("pass phrase") == std::string::npos);
    }
}

// TLS to the sentinels (rediss+sentinel://): a sentinel that speaks only TLS (port 0,
// tls-port), with its own requirepass, watching a master it reaches over TLS; the node
// reaches both with the test's CA and the sentinels' password from a file.
TEST_CASE("redis: rediss+sentinel:// reaches a TLS-only sentinel with requirepass and the TLS master it names",
          "[broker][sentinel]") {
    TempDir dir;
    makeCertificates(dir);
    const int tlsPort = freeTcpPort();
    const std::vector<std::string> tls{
        "--tls-cert-file",    dir.file("redis.crt"), "--tls-key-file",     dir.file("redis.key"),
        "--tls-ca-cert-file", dir.file("ca.crt"),    "--tls-auth-clients", "no"};
    std::vector<std::string> extra{"--tls-port", std::to_string(tlsPort)};
    extra.insert(extra.end(), tls.begin(), tls.end());
    RedisServer redis(RedisServer::Config{false, 0, "", extra});
    const int sentinelPort = freeTcpPort();
    const std::string sentinelSecret = "s3nt1nel-tls-8e4b";
    dir.write("sentinel.conf", "port 0\nbind 127.0.0.1\nprotected-mode no\ndir " + dir.path + "\nlogfile " +
                                   dir.file("sentinel.log") + "\n" + "tls-port " + std::to_string(sentinelPort) +
                                   "\ntls-cert-file " + dir.file("redis.crt") + "\ntls-key-file " +
                                   dir.file("redis.key") + "\ntls-ca-cert-file " + dir.file("ca.crt") +
                                   "\ntls-auth-clients no\ntls-replication yes\nrequirepass " + sentinelSecret +
                                   "\nsentinel monitor mymaster 127.0.0.1 " + std::to_string(tlsPort) + " 1\n");
    dir.write("sentinel-password", sentinelSecret + "\n");
    const pid_t sentinel = fork();
    if (sentinel == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close_range(3, ~0u, 0);
        const std::string config = dir.file("sentinel.conf");
        execlp("redis-server", "redis-server", config.c_str(), "--sentinel", static_cast<char*>(nullptr));
        _exit(127);
    }
    REQUIRE(sentinel > 0);
    const std::string hosts = "127.0.0.1:" + std::to_string(sentinelPort) + "/mymaster";

    SECTION("TLS and the sentinels' password: the master is found and used") {
        ServerProcess node({"--broker", "rediss+sentinel://" + hosts, "--broker-tls-ca", dir.file("ca.crt"),
                            "--broker-sentinel-password-file", dir.file("sentinel-password")});
        REQUIRE(waitStatus(node, 200));
        CHECK(publishOn(node, "tls-sentinel") == 1);
        CHECK_THAT(get(node, "/pushwire/healthz"), Catch::Contains("rediss+sentinel://"));
        CHECK(everythingShown(node).find(sentinelSecret) == std::string::npos);
    }
    SECTION("plain TCP to a TLS-only sentinel: unavailable") {
        ServerProcess node({"--broker", "redis+sentinel://" + hosts, "--broker-sentinel-password-file",
                            dir.file("sentinel-password")});
        REQUIRE(waitStatus(node, 503));
        CHECK(everythingShown(node).find(sentinelSecret) == std::string::npos);
    }
    ::kill(sentinel, SIGKILL);
    waitpid(sentinel, nullptr, 0);
}

// A Redis Cluster as production runs it: every node speaks only TLS (no plain port), to
// clients, on the cluster bus and to its master (tls-cluster, tls-replication), and asks
// for a client certificate. CLUSTER SLOTS over TLS announces the TLS ports: the node must
// reach the masters it discovers there, over TLS, with the seeds' CA and certificate.
TEST_CASE(
    "redis: a TLS-only Redis Cluster with client certificates serves two nodes on every master, and another "
    "CA, no certificate or no TLS fails clearly",
    "[broker]") {
    TempDir dir;
    makeCertificates(dir);
    const std::string apiKey = "tls-cluster-api-key-0123456789";
    dir.write("api-key", apiKey + "\n");
    RedisCluster redis(3, 0,
                       RedisServer::Tls{dir.file("redis.crt"), dir.file("redis.key"), dir.file("ca.crt"),
                                        dir.file("client.crt"), dir.file("client.key")});
    REQUIRE_THAT(redis.url(), Catch::StartsWith("redis+cluster://rediss://"));
    const std::vector<std::string> clientTls = {"--broker-tls-cert", dir.file("client.crt"), "--broker-tls-key",
                                                dir.file("client.key")};
    auto nodeArgs = [&](const std::string& url, const std::string& ca, bool certificate) {
        std::vector<std::string> args = {"--broker",          url,          "--api-key-file",
                                         dir.file("api-key"), "--presence", "room:*"};
        if (!ca.empty()) args.insert(args.end(), {"--broker-tls-ca", ca});
        if (certificate) args.insert(args.end(), clientTls.begin(), clientTls.end());
        return args;
    };
    // A as docs/scaling.md spells it, B as a user would first try; the nodes that must fail
    // start with them: all have had the same time to try.
    std::string tlsSeeds = redis.url();
    tlsSeeds.replace(0, std::string("redis+cluster://rediss://").size(), "rediss+cluster://");
    ServerProcess a(nodeArgs(redis.url(), dir.file("ca.crt"), true));
    ServerProcess b(nodeArgs(tlsSeeds, dir.file("ca.crt"), true));
    ServerProcess otherCa(nodeArgs(redis.url(), dir.file("other.crt"), true));
    ServerProcess noCertificate(nodeArgs(redis.url(), dir.file("ca.crt"), false));
    std::string plainSeeds = redis.url();
    for (auto at = plainSeeds.find("rediss://"); at != std::string::npos; at = plainSeeds.find("rediss://"))
        plainSeeds.erase(at, 9);
    ServerProcess noTls(nodeArgs(plainSeeds, "", false));

    // Healthy, and the slot map read over TLS: every master a part, at its TLS port.
    for (const ServerProcess* node : {&a, &b}) {
        bool mapped = false;
        for (int i = 0; i < 400 && !mapped; ++i) {
            auto health = node->client().Get("/pushwire/healthz");
            mapped = health && health->status == 200 && json::parse(health->body)["broker"]["parts"].size() == 3;
            if (!mapped) std::this_thread::sleep_for(50ms);
        }
        const std::string health = get(*node, "/pushwire/healthz");
        INFO(health);
        REQUIRE(mapped);
        CHECK(json::parse(health)["broker"]["kind"].get<std::string>().rfind("rediss+cluster://", 0) == 0);
    }
    // A channel on each master.
    const std::map<int, std::string> rooms = channelPerMaster(redis, "room:");
    REQUIRE(rooms.size() == 3);
    std::string list;
    for (const auto& [port, room] : rooms) list += (list.empty() ? "" : ",") + room;

    // One cluster for both halves (a section each would make it twice).
    {  // Publishes on B are delivered by A in order and once on SSE and WebSocket; history and presence read.
        SseClient sse(a.httpPort(), "/pushwire/sse?channels=" + list);
        RawWebSocket ws(a.httpPort(), "/pushwire/ws?channels=" + list);
        sse.waitFor(1, "welcome");
        ws.waitFor([](const auto& frames) { return frames.size() >= 2; });
        auto publisher = b.client();
        publisher.set_read_timeout(10, 0);
        for (int i = 1; i <= 20; ++i) {
            for (const auto& [port, room] : rooms) {
                auto res = publisher.Post("/pushwire/publish", {{"Authorization", "ApiKey " + apiKey}},
                                          json{{"channel", room}, {"data", i}}.dump(), "application/json");
                REQUIRE(res);
                INFO(res->body);
                REQUIRE(res->status == 200);
                REQUIRE(json::parse(res->body)["seq"] == i);
            }
        }
        const auto sseGot = sseMessages(sse, 60, 20s), wsGot = wsMessages(ws, 60, 20s);
        for (const auto* got : {&sseGot, &wsGot}) {
            for (const json& message : *got) CHECK(message["data"] == message["seq"]);
        }
        auto bySse = seqsByChannel(sseGot), byWs = seqsByChannel(wsGot);
        std::map<std::string, std::vector<int>> byHistory;
        // History: read from each master by a node that never followed the channels.
        std::string since = "0";
        for (int round = 0; round < 20; ++round) {
            json answer = json::parse(get(b, "/pushwire/poll?channels=" + list + "&since=" + since));
            for (const auto& m : answer["messages"]) byHistory[m["channel"]].push_back(m["seq"]);
            CHECK(answer["gaps"].empty());
            since = answer["cursor"];
            if (answer["messages"].empty()) break;
        }
        std::vector<int> expected;
        for (int i = 1; i <= 20; ++i) expected.push_back(i);
        for (const auto& [port, room] : rooms) {
            INFO(room << " on the master at TLS port " << port);
            CHECK(bySse[room] == expected);
            CHECK(byWs[room] == expected);
            CHECK(byHistory[room] == expected);
            // The SSE and WebSocket clients on A, seen from B.
            std::size_t present = 0;
            for (int i = 0; i < 200 && present != 2; ++i) {
                json members = json::parse(get(b, "/pushwire/presence?channel=" + room))["members"];
                present = members.size();
                if (present != 2) std::this_thread::sleep_for(50ms);
            }
            CHECK(present == 2);
        }
        // The server API: B's info lists both nodes (heartbeats over TLS to the {api} master).
        bool both = false;
        for (int i = 0; i < 200 && !both; ++i) {
            auto res =
                publisher.Post("/pushwire/api/info", {{"Authorization", "ApiKey " + apiKey}}, "{}", "application/json");
            both = res && res->status == 200 && json::parse(res->body)["nodes"].size() == 2;
            if (!both) std::this_thread::sleep_for(50ms);
        }
        CHECK(both);
    }
    {  // Another CA, no client certificate, plain TCP: 503 with the reason, never ok (they have tried all along).
        const std::string otherHealth = get(otherCa, "/pushwire/healthz");
        CHECK_THAT(otherHealth, Catch::Contains("TLS handshake"));
        CHECK_THAT(otherHealth, Catch::Contains("certificate verify failed"));
        for (const ServerProcess* node : {&otherCa, &noCertificate, &noTls}) {
            auto health = node->client().Get("/pushwire/healthz");
            REQUIRE(health);
            INFO(health->body);
            CHECK(health->status == 503);
            CHECK(json::parse(health->body)["status"] != "ok");
            auto res = node->client().Post("/pushwire/publish", {{"Authorization", "ApiKey " + apiKey}},
                                           R"({"channel":"room:x","data":1})", "application/json");
            REQUIRE(res);
            CHECK(res->status == 503);
        }
    }
}

// The failover of a TLS-only cluster: the replica a killed master is replaced by took its
// data over TLS (tls-replication) and is announced at its TLS port; the node reaches it
// there, over TLS, and the channel resumes, the other masters' channels never stopping.
TEST_CASE(
    "redis: a TLS-only Redis Cluster master killed: its replica is promoted and reached over TLS, its "
    "channels resume, the others never stop",
    "[broker]") {
    TempDir dir;
    makeCertificates(dir);
    // No client certificate asked here (tls-auth-clients no): the node gives only the CA.
    RedisCluster redis(3, 1,
                       RedisServer::Tls{dir.file("redis.crt"), dir.file("redis.key"), dir.file("ca.crt"), "", ""});
    std::string seeds = redis.url();
    seeds.replace(0, std::string("redis+cluster://rediss://").size(), "rediss+cluster://");
    ServerProcess node({"--broker", seeds, "--broker-tls-ca", dir.file("ca.crt")});
    REQUIRE(waitStatus(node, 200));
    const std::map<int, std::string> channels = channelPerMaster(redis, "f-");  // by the master's TLS port
    REQUIRE(channels.size() == 3);
    for (const auto& [port, channel] : channels) CHECK(publishOn(node, channel) == 1);
    RedisServer* victim = redis.masterOf(pushwire::server::clusterSlot(channels.begin()->second));
    REQUIRE(victim);
    const std::string hit = channels.begin()->second;
    SseClient subscriber(node.httpPort(), "/pushwire/sse?channel=" + hit);
    subscriber.waitFor(1, "welcome");

    victim->kill();
    const auto killed = std::chrono::steady_clock::now();
    // The other masters' channels answer throughout; the victim's once its replica is promoted.
    std::uint64_t resumedSeq = 0;
    while (!resumedSeq && std::chrono::steady_clock::now() - killed < 20s) {
        for (const auto& [port, channel] : channels) {
            if (channel == hit) continue;
            auto res = node.client().Post("/pushwire/publish", R"({"channel":")" + channel + R"(","data":1})",
                                          "application/json");
            CHECK((res && res->status == 200));
        }
        int status = 0;
        resumedSeq = tryPublish(node, hit, "2", &status);
        if (!resumedSeq) std::this_thread::sleep_for(100ms);
    }
    REQUIRE(resumedSeq > 0);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
    WARN("publishing on the killed master's channel resumed " << seconds << " s after the kill (seq " << resumedSeq
                                                              << ")");
    // The promoted replica is a part of the node, at its TLS port, reached over TLS.
    RedisServer* promoted = redis.masterOf(pushwire::server::clusterSlot(hit));
    REQUIRE(promoted);
    CHECK(promoted != victim);
    CHECK_THAT(get(node, "/pushwire/healthz"),
               Catch::Contains("rediss://127.0.0.1:" + std::to_string(promoted->port())));
    // And its publication reaches the subscriber.
    bool delivered = false;
    for (const SseEvent& event : subscriber.waitFor(1, "", 10s)) {
        delivered = delivered || json::parse(event.data)["data"] == 2;
    }
    CHECK(delivered);
}

}  // namespace redis_production_test
