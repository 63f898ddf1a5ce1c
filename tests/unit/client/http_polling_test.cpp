// The polling transports are platform-independent: run them against the real core
// with fake HTTP.
#include <catch2/catch.hpp>

#include "fake_platform.hpp"
#include "transports/registry.hpp"

using namespace pushwire;
using namespace pushwire::test;

namespace {

struct PollFixture {
    FakePlatform platform;
    std::unique_ptr<client::ClientCore> core;
    std::vector<std::uint64_t> seqs;
    std::vector<Gap> gaps;

    explicit PollFixture(Transport transport) {
        ClientOptions options;
        options.transport = transport;
        options.pollIntervalMs = 500;
        core = std::make_unique<client::ClientCore>(platform, client::defaultTransports(),
                                                    std::vector<std::string>{"http://h:1"}, options);
        core->start();
        SubscribeOptions sub;
        sub.onGap = [this](const Gap& g) { gaps.push_back(g); };
        core->subscribe(
            "c", [this](const Message& m) { seqs.push_back(m.seq); }, sub, nullptr);
        platform.respond("/pushwire/negotiate", 200, negotiateBody(R"(["longpoll","poll"])", "e1"));
    }
};

std::string batch(const std::string& messages, const std::string& cursor, const std::string& gaps = "") {
    return R"({"messages":[)" + messages + R"(],"gaps":[)" + gaps + R"(],"cursor":")" + cursor + R"(","more":false})";
}

std::string msg(std::uint64_t seq) {
    return R"({"channel":"c","seq":)" + std::to_string(seq) + R"(,"data":null,"time":1})";
}

}  // namespace

TEST_CASE("poll asks at once, then every interval, resuming from the last delivered seq") {
    PollFixture f(Transport::Poll);
    auto first = f.platform.open("/pushwire/poll");
    REQUIRE(first.size() == 1);
    // The session secret goes on every request: 32 hex digits, the same each time.
    REQUIRE_THAT(first[0]->url, Catch::StartsWith("http://h:1/pushwire/poll?channels=c&session="));
    const std::string session = first[0]->url.substr(first[0]->url.find("session=") + 8);
    CHECK(session.size() == 32);
    CHECK(session.find_first_not_of("0123456789abcdef") == std::string::npos);
    f.platform.respond("/pushwire/poll", 200, batch("", "e1~c@3"));
    CHECK(f.core->state() == State::Connected);
    CHECK(f.core->transport() == Transport::Poll);
    CHECK(f.platform.open("/pushwire/poll").empty());
    f.platform.advance(500);
    auto second = f.platform.open("/pushwire/poll");
    REQUIRE(second.size() == 1);
    CHECK(second[0]->url == "http://h:1/pushwire/poll?channels=c&since=e1~c@3&session=" + session);
    f.platform.respond("/pushwire/poll", 200, batch(msg(4) + "," + msg(5), "e1~c@5"));
    CHECK(f.seqs == std::vector<std::uint64_t>{4, 5});
    f.platform.advance(500);
    CHECK(f.platform.open("/pushwire/poll")[0]->url.find("since=e1~c@5") != std::string::npos);
}

TEST_CASE("poll reports gaps from the answer and continues") {
    PollFixture f(Transport::Poll);
    f.platform.respond("/pushwire/poll", 200, batch("", "e1~c@1"));
    f.platform.advance(500);
    f.platform.respond("/pushwire/poll", 200,
                       batch(msg(9), "e1~c@9", R"({"channel":"c","from":2,"to":8,"reason":"evicted"})"));
    REQUIRE(f.gaps.size() == 1);
    CHECK(f.gaps[0].from == 2);
    CHECK(f.gaps[0].to == 8u);
    CHECK(f.seqs == std::vector<std::uint64_t>{9});
}

TEST_CASE("long-poll opens with an immediate request, then holds with the heartbeat timeout") {
    PollFixture f(Transport::LongPoll);
    auto first = f.platform.open("/pushwire/longpoll");
    REQUIRE(first.size() == 1);
    CHECK_THAT(first[0]->url, Catch::EndsWith("timeout_ms=0"));
    f.platform.respond("/pushwire/longpoll", 200, batch("", "e1~c@0"));
    CHECK(f.core->state() == State::Connected);
    f.platform.advance(0);
    auto held = f.platform.open("/pushwire/longpoll");
    REQUIRE(held.size() == 1);
    CHECK_THAT(held[0]->url, Catch::Contains("since=e1~c@0") && Catch::EndsWith("timeout_ms=1000"));
    CHECK(held[0]->timeoutMs == 2000);  // the 1000 ms hold plus one heartbeat interval

    SECTION("a new subscription cuts the held request and asks again with both channels") {
        f.core->subscribe(
            "d", [](const Message&) {}, {}, nullptr);
        f.platform.advance(0);
        auto again = f.platform.open("/pushwire/longpoll");
        REQUIRE(again.size() == 1);
        CHECK_THAT(again[0]->url, Catch::Contains("channels=c,d"));
    }
    SECTION("a failed request moves the client to reconnecting") {
        f.platform.respond("/pushwire/longpoll", 0, "");
        CHECK(f.core->state() == State::Reconnecting);
    }
}
