#include "app/options.hpp"

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>

namespace options_test {

using namespace pushwire::server;

TEST_CASE("defaults follow the spec") {
    auto parsed = parseOptions({});
    CHECK(parsed.error.empty());
    CHECK(parsed.options.host == "127.0.0.1");
    CHECK(parsed.options.port == 8080);
    CHECK(parsed.options.wsPort == -1);  // one port: WebSocket on the HTTP port
    CHECK(parsed.options.history == 1000);
    CHECK(parsed.options.settings.heartbeat.count() == 10000);  // docs/protocol.md, --help
    CHECK(parsed.options.drainMs == 5000);
    for (TransportKind kind : kAllTransports) CHECK(parsed.options.settings.isEnabled(kind));
}

TEST_CASE("flags take a separate or an = value") {
    auto parsed = parseOptions({"--port", "9000", "--history=5", "--transports", "sse,poll"});
    REQUIRE(parsed.error.empty());
    CHECK(parsed.options.port == 9000);
    CHECK(parsed.options.wsPort == -1);
    CHECK(parsed.options.history == 5);
    CHECK(parsed.options.settings.isEnabled(TransportKind::Sse));
    CHECK_FALSE(parsed.options.settings.isEnabled(TransportKind::WebSocket));
}

TEST_CASE("a second WebSocket port only when asked, and trusted proxies by address") {
    CHECK(parseOptions({"--port", "9000", "--ws-port", "9001"}).options.wsPort == 9001);
    CHECK(parseOptions({"--port", "9000", "--ws-port", "9000"}).options.wsPort == -1);
    auto parsed = parseOptions({"--trust-proxy", "127.0.0.1, ::1"});
    REQUIRE(parsed.error.empty());
    CHECK(parsed.options.trustedProxies == std::vector<std::string>{"127.0.0.1", "::1"});
    CHECK_THAT(parseOptions({"--trust-proxy", "proxy.local"}).error, Catch::Contains("not an IP address"));
}

TEST_CASE("bad flags explain themselves") {
    CHECK_THAT(parseOptions({"--port", "x"}).error, Catch::Contains("--port"));
    CHECK_THAT(parseOptions({"--transports", "carrier-pigeon"}).error, Catch::Contains("carrier-pigeon"));
    CHECK_THAT(parseOptions({"--nope"}).error, Catch::Contains("unknown option"));
    CHECK_THAT(parseOptions({"--max-chanels", "1"}).error, Catch::Contains("did you mean --max-channels?"));
    CHECK_THAT(parseOptions({"--history"}).error, Catch::Contains("needs a value"));
    CHECK(parseOptions({"--help"}).help);
    CHECK(parseOptions({"--version"}).version);
}

TEST_CASE("options come from a config file, then PUSHWIRE_ variables, then the command line") {
    char path[] = "/tmp/pushwire-config-XXXXXX";
    const int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    std::ofstream(path) << R"({"port": 9100, "history": 50, "transports": ["sse", "poll"], "reuse-port": true,
                               "max-channels": 10})";
    std::vector<std::string> args;
    std::string error;
    REQUIRE(gatherArguments({"--config", path, "--history", "70"},
                            {"PUSHWIRE_MAX_CHANNELS=20", "PUSHWIRE_HISTORY=60", "PUSHWIRE_SERVER_EXTRA_ARGS=x",
                             "HOME=/root", "PUSHWIRE_WEB_FOLLOW_SYMLINKS=yes"},
                            args, error));
    auto parsed = parseOptions(args);
    REQUIRE(parsed.error.empty());
    CHECK(parsed.options.port == 9100);       // the file
    CHECK(parsed.options.maxChannels == 20);  // the environment over the file
    CHECK(parsed.options.history == 70);      // the command line over both
    CHECK(parsed.options.reusePort);          // a switch in the file
    CHECK(parsed.options.followSymlinks);     // a switch in the environment
    CHECK_FALSE(parsed.options.settings.isEnabled(TransportKind::WebSocket));

    std::ofstream(path) << R"({"prot": 1})";
    CHECK_FALSE(gatherArguments({"--config", path}, {}, args, error));
    CHECK_THAT(error, Catch::Contains("unknown key \"prot\" (did you mean \"port\"?)"));  // as written
    std::ofstream(path) << R"({"max_channels": 1})";
    CHECK_FALSE(gatherArguments({"--config", path}, {}, args, error));
    CHECK_THAT(error, Catch::Contains("unknown key \"max_channels\" (did you mean \"max-channels\"?)"));
    std::ofstream(path) << R"({"port": "eighty"})";
    CHECK_FALSE(gatherArguments({"--config", path}, {}, args, error));
    CHECK_THAT(error, Catch::Contains("\"port\": option --port expects a whole number"));
    std::ofstream(path) << R"([1, 2])";
    CHECK_FALSE(gatherArguments({"--config", path}, {}, args, error));
    CHECK_THAT(error, Catch::Contains("JSON object"));
    CHECK_FALSE(gatherArguments({"--config", "/nonexistent.json"}, {}, args, error));
    // A PUSHWIRE_ variable that is no option is listed (main warns), with the nearest one.
    std::vector<UnknownVariable> unknown;
    REQUIRE(gatherArguments({}, {"PUSHWIRE_MAX_CHANELS=5", "PUSHWIRE_HISTORY=3", "PUSHWIRE_XYZZY=1"}, args, error,
                            &unknown));
    REQUIRE(unknown.size() == 2);
    CHECK(unknown[0].name == "PUSHWIRE_MAX_CHANELS");
    CHECK(unknown[0].didYouMean == "PUSHWIRE_MAX_CHANNELS");
    CHECK(unknown[1].didYouMean.empty());
    CHECK_FALSE(gatherArguments({}, {"PUSHWIRE_PORT=x"}, args, error));
    CHECK_THAT(error, Catch::Contains("PUSHWIRE_PORT: option --port expects a whole number"));
    std::remove(path);
}

TEST_CASE("presence flags: patterns checked, numbers in range, defaults as documented") {
    auto defaults = parseOptions({});
    CHECK_FALSE(defaults.options.presence);
    CHECK_FALSE(defaults.options.joinLeave);
    CHECK(defaults.options.presenceTtlSeconds == 30);
    CHECK(defaults.options.presenceGraceMs == 5000);
    CHECK(defaults.options.maxPresenceMembers == 1000);
    auto parsed = parseOptions({"--presence", "room:*,lobby", "--join-leave", "room:*", "--presence-ttl", "6",
                                "--presence-grace-ms", "0", "--max-presence-members", "50"});
    REQUIRE(parsed.error.empty());
    CHECK(*parsed.options.presence == "room:*,lobby");
    CHECK(*parsed.options.joinLeave == "room:*");
    CHECK(parsed.options.presenceTtlSeconds == 6);
    CHECK(parsed.options.presenceGraceMs == 0);
    CHECK(parsed.options.maxPresenceMembers == 50);
    CHECK_THAT(parseOptions({"--presence", "room one"}).error, Catch::Contains("--presence"));
    CHECK_THAT(parseOptions({"--join-leave", "a/b"}).error, Catch::Contains("--join-leave"));
    CHECK_THAT(parseOptions({"--presence-ttl", "1"}).error, Catch::Contains("--presence-ttl"));
    CHECK_THAT(parseOptions({"--max-presence-members", "0"}).error, Catch::Contains("--max-presence-members"));
    CHECK_THAT(usage(), Catch::Contains("--presence-grace-ms"));
}

TEST_CASE("broker URLs: ACL users, rediss://, Sentinel, and errors that never repeat a password") {
    BrokerOptions b;
    REQUIRE_FALSE(parseBrokerUrl("redis://pusher:pw@10.0.0.1:6380/2", b));
    CHECK((b.user == "pusher" && b.password == "pw" && b.host == "10.0.0.1" && b.port == 6380 && b.db == 2));
    CHECK_FALSE(b.tls);
    REQUIRE_FALSE(parseBrokerUrl("redis://:pw@h", b));
    CHECK((b.user.empty() && b.password == "pw" && b.port == 6379));
    REQUIRE_FALSE(parseBrokerUrl("redis://pw@h", b));  // as before ACL users: the default user's password
    CHECK((b.user.empty() && b.password == "pw"));
    REQUIRE_FALSE(parseBrokerUrl("rediss://h:6390", b));
    CHECK((b.tls && b.host == "h" && b.port == 6390));
    REQUIRE_FALSE(parseBrokerUrl("redis+sentinel://u:pw@s1:26379,s2,s3:26380/mymaster", b));
    CHECK(b.masterName == "mymaster");
    CHECK(b.sentinels == std::vector<std::pair<std::string, int>>{{"s1", 26379}, {"s2", 26379}, {"s3", 26380}});
    CHECK((b.user == "u" && b.password == "pw"));
    auto problem = parseBrokerUrl("redis+sentinel://u:hunter2@s1:26379", b);
    REQUIRE(problem);
    CHECK(problem->find("master name") != std::string::npos);
    CHECK(problem->find("hunter2") == std::string::npos);
    problem = parseBrokerUrl("redis://u:hunter2@h:99999", b);
    REQUIRE(problem);
    CHECK(problem->find("hunter2") == std::string::npos);
    // IPv6 literals in brackets; a host that is not one, or one Redis twice, is refused.
    REQUIRE_FALSE(parseBrokerUrl("redis://[::1]:6390", b));
    CHECK((b.host == "::1" && b.port == 6390));
    REQUIRE_FALSE(parseBrokerUrl("rediss://[fe80::2]", b));
    CHECK((b.host == "fe80::2" && b.port == 6379));
    for (const char* bad : {"redis://127.0.0.1:6379,rediss://x:hunter2@[::1", "redis://[::1", "redis://a b:6379",
                            "redis://h:6379,redis://h:6379", "redis+cluster://h:1,h:1", "redis://[]:1",
                            "redis+sentinel://s1,[x/m", "rediss+cluster://h:1,redis://h:2",
                            "redis+cluster://rediss://h:1,h:2", "redis+cluster://h:1,rediss://x:hunter2@h:2"}) {
        INFO(bad);
        problem = parseBrokerUrl(bad, b);
        REQUIRE(problem);
        CHECK(problem->find("hunter2") == std::string::npos);
    }
}

TEST_CASE("options: rediss+cluster:// and redis+cluster://rediss:// seeds are one TLS cluster, printed back as given") {
    for (const char* text :
         {"rediss+cluster://h1:7000,rediss://h2:7001", "redis+cluster://rediss://h1:7000,rediss://h2:7001"}) {
        INFO(text);
        auto parsed = parseOptions({"--broker", text});
        REQUIRE(parsed.error.empty());
        const BrokerOptions& b = parsed.options.broker;
        CHECK((b.cluster && b.tls));
        REQUIRE(b.shards.size() == 2);
        CHECK((b.shards[0].tls && b.shards[0].host == "h1" && b.shards[0].port == 7000));
        CHECK((b.shards[1].tls && b.shards[1].host == "h2" && b.shards[1].port == 7001));
        // --print-config gives a --broker that parses to the same seeds.
        const std::string printed = effectiveConfig(parsed.options);
        CHECK(printed.find("\"rediss+cluster://h1:7000/0,h2:7001/0\"") != std::string::npos);
        BrokerOptions again;
        REQUIRE_FALSE(parseBrokerUrl("rediss+cluster://h1:7000/0,h2:7001/0", again));
        CHECK((again.cluster && again.tls && again.shards.size() == 2 && again.shards[1].tls));
    }
    auto plain = parseOptions({"--broker", "redis+cluster://h1:7000,h2:7001"});
    REQUIRE(plain.error.empty());
    CHECK_FALSE(plain.options.broker.tls);
    CHECK(effectiveConfig(plain.options).find("\"redis+cluster://h1:7000/0,h2:7001/0\"") != std::string::npos);
}

TEST_CASE("options --broker-wait, --broker-password-file and the refusal of --broker-password on the command line") {
    auto parsed = parseOptions({"--broker", "redis://h", "--broker-wait", "1", "--broker-wait-timeout-ms", "500"});
    CHECK(parsed.error.empty());
    CHECK(parsed.options.broker.waitReplicas == 1);
    CHECK(parsed.options.broker.waitTimeoutMs == 500);
    CHECK_FALSE(parseOptions({"--broker-wait-timeout-ms", "5000"}).error.empty());  // above the 2 s silence limit
    const std::string path = "/tmp/pushwire-options-test-password";
    std::ofstream(path) << "from-file\n";
    parsed = parseOptions({"--broker", "redis://:in-url@h", "--broker-password-file", path});
    CHECK(parsed.options.broker.password == "from-file");
    std::remove(path.c_str());
    CHECK_FALSE(parseOptions({"--broker-password-file", path}).error.empty());
    std::vector<std::string> args;
    std::string error;
    CHECK_FALSE(gatherArguments({"--broker-password", "x"}, {}, args, error));
    CHECK(error.find("PUSHWIRE_BROKER_PASSWORD") != std::string::npos);
    REQUIRE(gatherArguments({"--broker", "redis://pusher:@h"}, {"PUSHWIRE_BROKER_PASSWORD=from-env"}, args, error));
    parsed = parseOptions(args);
    CHECK(parsed.error.empty());
    CHECK((parsed.options.broker.user == "pusher" && parsed.options.broker.password == "from-env"));
}

TEST_CASE(
    "options: the sentinels' password from a file or PUSHWIRE_BROKER_SENTINEL_PASSWORD, never the command "
    "line, rediss+sentinel:// speaks TLS") {
    BrokerOptions b;
    REQUIRE_FALSE(parseBrokerUrl("rediss+sentinel://s1:26379,s2/mymaster", b));
    CHECK(b.tls);
    CHECK(b.masterName == "mymaster");
    CHECK(b.sentinels == std::vector<std::pair<std::string, int>>{{"s1", 26379}, {"s2", 26379}});
    REQUIRE_FALSE(parseBrokerUrl("redis+sentinel://s1/mymaster", b));
    CHECK_FALSE(b.tls);
    const std::string path = "/tmp/pushwire-options-test-sentinel-password";
    std::ofstream(path) << "sentinel-secret\n";
    auto parsed = parseOptions({"--broker", "redis+sentinel://s1/m", "--broker-sentinel-password-file", path});
    CHECK(parsed.error.empty());
    CHECK(parsed.options.broker.sentinelPassword == "sentinel-secret");
    CHECK(parsed.options.broker.password.empty());  // the master's is another
    CHECK(effectiveConfig(parsed.options).find("sentinel-secret") == std::string::npos);
    std::remove(path.c_str());
    CHECK_FALSE(parseOptions({"--broker-sentinel-password-file", path}).error.empty());
    std::vector<std::string> args;
    std::string error;
    CHECK_FALSE(gatherArguments({"--broker-sentinel-password", "x"}, {}, args, error));
    CHECK(error.find("PUSHWIRE_BROKER_SENTINEL_PASSWORD") != std::string::npos);
    REQUIRE(gatherArguments({"--broker", "redis+sentinel://s1/m"}, {"PUSHWIRE_BROKER_SENTINEL_PASSWORD=from-env"}, args,
                            error));
    parsed = parseOptions(args);
    CHECK(parsed.error.empty());
    CHECK(parsed.options.broker.sentinelPassword == "from-env");
}

TEST_CASE(
    "options: TLS files for a plain or memory broker are refused, and a TLS file that cannot be read is said at "
    "start") {
    for (const char* plain : {"redis://h:6379", "redis+cluster://h1:7000,h2:7001", "redis://a,redis://b", "memory"}) {
        INFO(plain);
        const std::string error = parseOptions({"--broker", plain, "--broker-tls-ca", "/etc/hostname"}).error;
        CHECK_THAT(error, Catch::Contains("--broker-tls-ca") && Catch::Contains("rediss://"));
    }
    CHECK(parseOptions({"--broker", "rediss://h:6379", "--broker-tls-ca", "/etc/hostname"}).error.empty());
    CHECK(parseOptions({"--broker", "redis://a,rediss://b", "--broker-tls-ca", "/etc/hostname"}).error.empty());
    CHECK(parseOptions({"--broker-tls-ca", "/etc/hostname", "--broker", "rediss+cluster://h1:7000"}).error.empty());
    CHECK_THAT(parseOptions({"--broker", "rediss://h", "--broker-tls-ca", "/nonexistent/ca.crt"}).error,
               Catch::Contains("--broker-tls-ca /nonexistent/ca.crt: cannot read it"));
    CHECK_THAT(parseOptions({"--broker", "rediss://h", "--broker-tls-cert", "/etc/hostname", "--broker-tls-key",
                             "/nonexistent/client.key"})
                   .error,
               Catch::Contains("--broker-tls-key /nonexistent/client.key"));
}

}  // namespace options_test
