// The SDK's publish is stored once: each carries an idempotency key of its own, and one
// whose fate is unknown (no answer, publish_outcome_unknown, broker_unavailable, a proxy's
// 5xx) is sent again with the same key, a bounded number of times, with backoff; a refusal
// is final. The fake platform plays the server.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "fake_platform.hpp"

using namespace pushwire;
using namespace pushwire::test;

namespace {

struct Publisher {
    FakePlatform platform;
    std::unique_ptr<client::ClientCore> core;
    std::vector<std::string> results;

    Publisher() {
        FakeRegistry::made().clear();
        ClientOptions options;
        options.reconnectInitialMs = 100;
        options.upgradeIntervalMs = 0;
        core = std::make_unique<client::ClientCore>(platform, FakeRegistry::table(),
                                                    std::vector<std::string>{"http://h:1"}, options);
        core->start();
    }
    void publish(const std::string& channel, const std::string& data) {
        core->publish(channel, data, [this](std::optional<std::uint64_t> seq, const Error* e) {
            results.push_back(seq ? "seq " + std::to_string(*seq) : e->code);
        });
    }
    std::vector<FakePlatform::Request*> posts() { return platform.open("/pushwire/publish"); }
    static std::string keyOf(const std::string& json) {
        return nlohmann::json::parse(json).value("idempotency_key", std::string());
    }
};

}  // namespace

TEST_CASE("a publish whose fate is unknown is sent again with its key until the server gives its seq") {
    Publisher p;
    p.publish("c", R"({"n":1})");
    REQUIRE(p.posts().size() == 1);
    const std::string body = p.posts()[0]->body;
    const std::string key = Publisher::keyOf(body);
    CHECK(key.size() >= 16);
    CHECK(key.size() <= 64);
    const std::vector<std::pair<int, std::string>> failures = {
        {504, R"({"error":{"code":"publish_outcome_unknown","message":"no answer"}})"},
        {503, R"({"error":{"code":"broker_unavailable","message":"down"}})"},
        {0, ""},                            // no answer at all
        {502, "<html>Bad Gateway</html>"},  // a proxy's page
    };
    for (const auto& [status, answer] : failures) {
        INFO(status);
        REQUIRE(p.platform.respond("/pushwire/publish", status, answer));
        CHECK(p.results.empty());
        CHECK(p.posts().empty());  // not at once: after a backoff
        p.platform.advance(5000);
        REQUIRE(p.posts().size() == 1);
        CHECK(p.posts()[0]->body == body);  // the same data, the same key
    }
    REQUIRE(p.platform.respond("/pushwire/publish", 200, R"({"channel":"c","seq":41})"));
    CHECK(p.results == std::vector<std::string>{"seq 41"});
    p.platform.advance(60000);
    CHECK(p.posts().empty());
}

TEST_CASE("a publish cut off with its WebSocket goes again with the same key") {
    Publisher p;
    REQUIRE(p.platform.respond("/pushwire/negotiate", 200, negotiateBody()));
    FakeTransport& ws = *FakeRegistry::made().back();
    ws.listener().transportOpened(ws.gen());
    p.publish("c", "1");
    REQUIRE(ws.sent.size() == 1);
    const std::string key = Publisher::keyOf(ws.sent[0]);
    CHECK_FALSE(key.empty());
    ws.listener().transportClosed(ws.gen(), {protocol::ErrorCode::Internal, "cut"});
    CHECK(p.results.empty());
    // The client reconnects (its negotiate is left unanswered here): meanwhile the next
    // attempt goes by HTTP, with the same key. (The cut transport is gone: not looked at.)
    p.platform.advance(5000);
    REQUIRE(p.posts().size() == 1);
    const std::string again = p.posts()[0]->body;
    REQUIRE(p.platform.respond("/pushwire/publish", 200, R"({"channel":"c","seq":3})"));
    CHECK(Publisher::keyOf(again) == key);
    CHECK(p.results == std::vector<std::string>{"seq 3"});
}

TEST_CASE("a refusal is final: it is not sent again") {
    Publisher p;
    for (const auto& [status, answer] :
         std::vector<std::pair<int, std::string>>{{403, R"({"error":{"code":"forbidden","message":"no"}})"},
                                                  {429, R"({"error":{"code":"rate_limited","message":"slow"}})"},
                                                  {413, R"({"error":{"code":"too_large","message":"big"}})"}}) {
        p.publish("c", "1");
        REQUIRE(p.platform.respond("/pushwire/publish", status, answer));
        p.platform.advance(30000);
        CHECK(p.posts().empty());
    }
    CHECK(p.results == std::vector<std::string>{"forbidden", "rate_limited", "too_large"});
}

TEST_CASE("attempts are bounded: after the sixth the application gets the error") {
    Publisher p;
    p.publish("c", "1");
    int attempts = 0;
    while (!p.posts().empty()) {
        ++attempts;
        REQUIRE(p.platform.respond("/pushwire/publish", 504,
                                   R"({"error":{"code":"publish_outcome_unknown","message":"no answer"}})"));
        p.platform.advance(10000);
        REQUIRE(attempts < 20);
    }
    CHECK(attempts == 6);
    CHECK(p.results == std::vector<std::string>{"publish_outcome_unknown"});
}

TEST_CASE("each publish has a key of its own, and closing fails one waiting to be sent again") {
    Publisher p;
    p.publish("c", "1");
    p.publish("c", "1");
    REQUIRE(p.posts().size() == 2);
    CHECK(Publisher::keyOf(p.posts()[0]->body) != Publisher::keyOf(p.posts()[1]->body));
    REQUIRE(p.platform.respond("/pushwire/publish", 0, ""));
    p.core->close();
    CHECK(p.results == std::vector<std::string>{"closed"});
    p.platform.advance(60000);
    CHECK(p.results.size() == 1);
}
