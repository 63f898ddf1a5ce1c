// The refusal and limit counters of /pushwire/metrics (docs/security.md, "Limits"): each
// case that should move one moves it, by as much as it refused or dropped, and moves no
// other; the history gauge follows what is held.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "server_process.hpp"
#include "support/token_minter.hpp"

using namespace pushwire::test;
using namespace pushwire::testing;
using nlohmann::json;

namespace metrics_test {

namespace {

const std::string kSecret = "metrics-secret-0123456789abcdef0123";

struct SecretFile {
    SecretFile() {
        char pattern[] = "/tmp/pushwire-metrics-XXXXXX";
        dir = mkdtemp(pattern);
        std::ofstream(dir + "/secret") << kSecret;
    }
    ~SecretFile() { std::filesystem::remove_all(dir); }
    std::vector<std::string> args(std::vector<std::string> more = {}) const {
        std::vector<std::string> out = {"--token-secret-file", dir + "/secret", "--public-publish", "*"};
        out.insert(out.end(), more.begin(), more.end());
        return out;
    }
    std::string dir;
};

std::string limit(const std::string& name) { return "pushwire_limit_hits_total{limit=\"" + name + "\"}"; }

const std::vector<std::string>& counters() {
    static const std::vector<std::string> names = {
        "pushwire_unauthorized_total",
        "pushwire_forbidden_total",
        "pushwire_token_expired_total",
        limit("connections_per_ip"),
        limit("channels_per_connection"),
        limit("publish_rate"),
        limit("channels"),
        limit("history_bytes"),
        limit("channel_ttl"),
    };
    return names;
}

using Counts = std::map<std::string, double>;

// Every counter above; each must be printed.
Counts read(const ServerProcess& server) {
    auto c = server.client();
    auto res = c.Get("/pushwire/metrics");
    REQUIRE(res);
    REQUIRE(res->status == 200);
    Counts out;
    for (const std::string& name : counters()) {
        auto value = metricValue(res->body, name);
        INFO(name);
        REQUIRE(value);
        out[name] = *value;
    }
    return out;
}

// The counters that changed since `before`, with how much.
Counts moved(const ServerProcess& server, const Counts& before) {
    Counts out;
    for (const auto& [name, value] : read(server)) {
        if (value != before.at(name)) out[name] = value - before.at(name);
    }
    return out;
}

std::string alice(std::int64_t lifetime = 600) { return mintHs256(kSecret, aliceClaims(unixNow() + lifetime)); }

int statusOf(const httplib::Result& res) { return res ? res->status : 0; }

}  // namespace

TEST_CASE("metrics: each refusal and each limit moves its own counter, by what it refused, and no other") {
    SecretFile keys;
    SECTION("a request without a token where one is needed: pushwire_unauthorized_total") {
        ServerProcess server(keys.args());
        const Counts before = read(server);
        CHECK(statusOf(server.client().Get("/pushwire/poll?channel=chat:a")) == 401);
        CHECK(statusOf(server.client().Get("/pushwire/sse?channel=chat:a&token=not.a.token")) == 401);
        CHECK(moved(server, before) == Counts{{"pushwire_unauthorized_total", 2}});
    }
    SECTION("a channel outside the token's rights: pushwire_forbidden_total") {
        ServerProcess server(keys.args());
        const Counts before = read(server);
        CHECK(statusOf(server.client().Get(("/pushwire/poll?channel=user:bob&token=" + alice()).c_str())) == 403);
        CHECK(moved(server, before) == Counts{{"pushwire_forbidden_total", 1}});
    }
    SECTION("a stream closed at its token's exp: pushwire_token_expired_total") {
        ServerProcess server(keys.args());
        SseClient stream(server.httpPort(), "/pushwire/sse?channel=chat:a&token=" + alice(2));
        REQUIRE(stream.waitFor(1, "welcome").size() == 1);
        const Counts before = read(server);
        REQUIRE(stream.waitFor(1, "error", 10s).size() == 1);
        CHECK(stream.ended());
        CHECK(moved(server, before) == Counts{{"pushwire_token_expired_total", 1}});
    }
    SECTION("connections past --max-connections-per-ip: limit=connections_per_ip") {
        ServerProcess server({"--max-connections-per-ip", "2"});
        std::vector<std::unique_ptr<RawSocket>> held;
        for (int i = 0; i < 2; ++i) {
            held.push_back(std::make_unique<RawSocket>(server.httpPort(), 0, "127.0.0.2"));
            held.back()->send("GET /pushwire/sse?channel=x HTTP/1.1\r\nHost: a\r\n\r\n");
            held.back()->readUntil([](const std::string& b) { return b.find("welcome") != std::string::npos; });
        }
        const Counts before = read(server);
        for (int i = 0; i < 3; ++i) {
            RawSocket refused(server.httpPort(), 0, "127.0.0.2");
            CHECK(refused.readUntil([](const std::string& b) { return b.find("}}") != std::string::npos; })
                      .rfind("HTTP/1.1 429", 0) == 0);
        }
        CHECK(moved(server, before) == Counts{{limit("connections_per_ip"), 3}});
    }
    SECTION("channels past --max-channels-per-connection: limit=channels_per_connection") {
        ServerProcess server({"--max-channels-per-connection", "2"});
        WsClient ws(server.wsUrl());
        REQUIRE(ws.connected());
        const Counts before = read(server);
        ws.send(R"({"type":"subscribe","channels":["a","b","c"],"id":1})");
        CHECK_FALSE(ws.waitFor([](const std::string& f) { return field(f, "type") == "error"; }).empty());
        CHECK(moved(server, before) == Counts{{limit("channels_per_connection"), 1}});
    }
    SECTION("publishes past --publish-rate: limit=publish_rate") {
        ServerProcess server(keys.args({"--publish-rate", "2"}));
        const Counts before = read(server);
        auto c = server.client();
        int limited = 0;
        for (int i = 0; i < 6; ++i) {
            auto res = c.Post("/pushwire/publish", {{"Authorization", "Bearer " + alice()}},
                              R"({"channel":"chat:a","data":1})", "application/json");
            REQUIRE(res);
            if (res->status == 429) ++limited;
        }
        CHECK(limited > 0);
        CHECK(moved(server, before) == Counts{{limit("publish_rate"), limited}});
    }
    SECTION("new channels past --max-channels: limit=channels, one per channel dropped") {
        ServerProcess server({"--max-channels", "3"});
        const Counts before = read(server);
        for (int i = 1; i <= 5; ++i) publish(server, "c" + std::to_string(i), "1");
        CHECK(moved(server, before) == Counts{{limit("channels"), 2}});
        CHECK(server.metric("pushwire_broker_channels") == 3);
    }
    SECTION("history past --max-history-bytes: limit=history_bytes, one per message dropped") {
        ServerProcess server({"--max-history-bytes", "4096"});
        const Counts before = read(server);
        const std::string data = "\"" + std::string(1000, 'h') + "\"";
        for (int i = 0; i < 10; ++i) publish(server, "h", data);
        const Counts changed = moved(server, before);
        REQUIRE(changed.size() == 1);
        CHECK(changed.count(limit("history_bytes")) == 1);
        // What stayed is within the bound, and is the newest: poll reads from the oldest held.
        const double held = server.metric("pushwire_history_bytes").value_or(-1);
        CHECK(held > 1000);
        CHECK(held <= 4096);
        auto answer = server.client().Get("/pushwire/poll?channel=h&since=0");
        REQUIRE(answer);
        json body = json::parse(answer->body);
        REQUIRE(body["gaps"].size() == 1);
        const double evicted = body["gaps"][0]["to"].get<double>();
        CHECK(changed.at(limit("history_bytes")) == evicted);
        CHECK(body["messages"].size() == 10 - evicted);
    }
    SECTION("a channel idle past --channel-ttl: limit=channel_ttl") {
        ServerProcess server({"--channel-ttl", "1"});
        const Counts before = read(server);
        publish(server, "short-lived", "1");
        CHECK(server.waitMetric(limit("channel_ttl"), [](double n) { return n >= 1; }) == 1);
        CHECK(moved(server, before) == Counts{{limit("channel_ttl"), 1}});
        CHECK(server.metric("pushwire_broker_channels") == 0);
    }
}

TEST_CASE("metrics: pushwire_history_bytes grows with what a channel holds, and goes with the channel") {
    ServerProcess server({"--channel-ttl", "1"});
    CHECK(server.metric("pushwire_history_bytes") == 0);
    publish(server, "h", "\"" + std::string(5000, 'x') + "\"");
    const double one = server.metric("pushwire_history_bytes").value_or(0);
    CHECK(one >= 5000);
    publish(server, "h", "\"" + std::string(5000, 'y') + "\"");
    CHECK(server.metric("pushwire_history_bytes").value_or(0) >= one + 5000);
    // The channel's expiry takes its history along.
    CHECK(server.waitMetric("pushwire_history_bytes", [](double n) { return n == 0; }) == 0);
}

}  // namespace metrics_test
