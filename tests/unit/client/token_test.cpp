// Tokens in the client core: getToken before connecting, ahead of exp, and on a refused
// token; a refused channel ends its own subscription only. The test plays the server's side
// with fake transports and fake HTTP.
#include <catch2/catch.hpp>

#include "fake_platform.hpp"
#include "pushwire/protocol/frames.hpp"
#include "support/base64url.hpp"
#include "transports/registry.hpp"

using namespace pushwire;
using namespace pushwire::test;
using protocol::Envelope;
using protocol::ErrorCode;

namespace {

// An unsigned JWT-shaped token: the client reads only its exp, the server verifies it.
std::string tokenExpiringAt(std::int64_t expSeconds, const std::string& name) {
    return testing::base64Url(R"({"alg":"HS256"})") + "." +
           testing::base64Url(R"({"sub":")" + name + R"(","exp":)" + std::to_string(expSeconds) + "}") + ".sig";
}

struct TokenFixture {
    FakePlatform platform;
    std::vector<TokenCallback> asks;  // getToken calls not answered yet
    int calls = 0;
    std::unique_ptr<client::ClientCore> core;
    std::vector<std::uint64_t> seqs;
    std::vector<std::string> errors;

    explicit TokenFixture(Transport transport, std::vector<client::TransportInfo> table) {
        FakeRegistry::made().clear();
        ClientOptions options;
        options.transport = transport;
        options.reconnectInitialMs = 100;
        options.reconnectMaxMs = 1600;
        options.pollIntervalMs = 500;
        options.getToken = [this](TokenCallback done) {
            ++calls;
            asks.push_back(std::move(done));
        };
        core = std::make_unique<client::ClientCore>(platform, std::move(table), std::vector<std::string>{"http://h:1"},
                                                    options);
        core->start();
    }
    void answer(const std::string& token) {
        REQUIRE(!asks.empty());
        auto done = std::move(asks.front());
        asks.erase(asks.begin());
        done(token);
    }
    // Lets `ms` pass on a live link (heartbeats every 500 ms: negotiate says 1000).
    void live(FakeTransport& t, int ms) {
        for (int passed = 0; passed < ms; passed += 500) {
            platform.advance(500);
            t.listener().transportActivity(t.gen());
        }
    }
    void subscribe(const std::string& channel) {
        SubscribeOptions sub;
        sub.onError = [this, channel](const Error& e) { errors.push_back(channel + " " + e.code); };
        core->subscribe(
            channel, [this](const Message& m) { seqs.push_back(m.seq); }, sub, nullptr);
    }
};

}  // namespace

TEST_CASE("getToken is asked before connecting, ahead of exp, and when the server refuses the token") {
    TokenFixture f(Transport::WebSocket, FakeRegistry::table());
    f.subscribe("c");
    REQUIRE(f.platform.respond("/pushwire/negotiate", 200, negotiateBody()));
    // No connection is made without a token in hand.
    CHECK(f.calls == 1);
    CHECK(FakeRegistry::made().empty());

    // The clock starts at 1 s; this token lasts 100 s.
    const std::string first = tokenExpiringAt(101, "one");
    f.answer(first);
    REQUIRE(FakeRegistry::made().size() == 1);
    FakeTransport& t = *FakeRegistry::made().back();
    CHECK(t.config().currentToken() == first);
    t.listener().transportOpened(t.gen());
    t.listener().transportCursor(t.gen(), "e1~c@0", {"c"});
    t.listener().transportMessage(t.gen(), Envelope{"c", 1, "1", 0});

    // Refreshed a fifth of the lifetime ahead of exp, not at it; in band on WebSocket.
    f.live(t, 79000);
    CHECK(f.calls == 1);
    f.live(t, 1000);
    CHECK(f.calls == 2);
    const std::string second = tokenExpiringAt(201, "two");
    f.answer(second);
    CHECK(FakeRegistry::made().size() == 1);  // the same connection
    REQUIRE(!t.sent.empty());
    CHECK(t.sent.back() == protocol::encodeAuthFrame(second, ""));
    CHECK(t.config().currentToken() == second);

    // The server refuses it anyway (revoked, clock skew): a new token, at once, and the new
    // connection resumes from the cursor: the message delivered before is not repeated.
    t.listener().transportClosed(t.gen(), {ErrorCode::TokenExpired, "the token expired"});
    CHECK(f.calls == 3);
    CHECK(f.core->state() == State::Reconnecting);
    const std::string third = tokenExpiringAt(301, "three");
    f.answer(third);
    f.platform.advance(0);
    REQUIRE(FakeRegistry::made().size() == 2);
    FakeTransport& again = *FakeRegistry::made().back();
    CHECK(again.config().currentToken() == third);
    CHECK(f.core->resumeCursor({"c"}) == "e1~c@1");
    again.listener().transportOpened(again.gen());
    again.listener().transportMessage(again.gen(), Envelope{"c", 1, "1", 0});
    again.listener().transportMessage(again.gen(), Envelope{"c", 2, "1", 0});
    CHECK(f.seqs == std::vector<std::uint64_t>{1, 2});
    CHECK(f.errors.empty());
}

TEST_CASE("a token refused again and again is not asked for in a loop") {
    TokenFixture f(Transport::WebSocket, FakeRegistry::table());
    f.subscribe("c");
    REQUIRE(f.platform.respond("/pushwire/negotiate", 200, negotiateBody()));
    std::size_t closed = 0;
    for (int step = 0; step < 40; ++step) {  // 4 s
        if (!f.asks.empty()) f.answer(tokenExpiringAt(10000, "bad"));
        f.platform.respond("/pushwire/negotiate", 200, negotiateBody());
        if (FakeRegistry::made().size() > closed) {
            closed = FakeRegistry::made().size();
            FakeTransport& t = *FakeRegistry::made().back();
            t.listener().transportOpened(t.gen());  // the upgrade succeeds, the token does not
            t.listener().transportClosed(t.gen(), {ErrorCode::Unauthorized, "bad signature"});
        }
        f.platform.advance(100);
    }
    // A new token at once, then one before each retry, with the normal backoff (100 ms
    // doubling to 1.6 s): a loop would have connected 40 times. The subscription hears of
    // it once; the state says why.
    CHECK(static_cast<std::size_t>(f.calls) >= closed);
    CHECK(static_cast<std::size_t>(f.calls) <= closed + 1);
    CHECK(closed >= 4);
    CHECK(closed <= 10);
    CHECK(f.errors == std::vector<std::string>{"c unauthorized"});
    CHECK(f.core->state() == State::Reconnecting);
    CHECK(f.core->stateReason().rfind("unauthorized: bad signature", 0) == 0);
}

TEST_CASE("a refused channel ends its own subscription through onError, and the others go on") {
    TokenFixture f(Transport::WebSocket, FakeRegistry::table());
    f.subscribe("open");
    f.subscribe("secret");
    REQUIRE(f.platform.respond("/pushwire/negotiate", 200, negotiateBody()));
    f.answer(tokenExpiringAt(10000, "one"));
    FakeTransport& t = *FakeRegistry::made().back();
    t.listener().transportOpened(t.gen());
    t.listener().transportRequestError(t.gen(), "", {ErrorCode::Forbidden, "not yours"}, "secret");
    CHECK(f.errors == std::vector<std::string>{"secret forbidden"});
    CHECK(t.removed == std::vector<std::string>{"secret"});
    t.listener().transportMessage(t.gen(), Envelope{"open", 1, "1", 0});
    t.listener().transportMessage(t.gen(), Envelope{"secret", 1, "1", 0});
    CHECK(f.seqs == std::vector<std::uint64_t>{1});
    CHECK(f.core->state() == State::Connected);
}

TEST_CASE("polls carry the token as a Bearer header and take a new one from the next request") {
    TokenFixture f(Transport::Poll, client::defaultTransports());
    f.subscribe("c");
    f.subscribe("d");
    REQUIRE(f.platform.respond("/pushwire/negotiate", 200, negotiateBody(R"(["longpoll","poll"])")));
    const std::string first = tokenExpiringAt(1001, "one");
    f.answer(first);
    auto open = f.platform.open("/pushwire/poll");
    REQUIRE(open.size() == 1);
    CHECK(open[0]->bearer == first);
    CHECK(open[0]->url.find("token=") == std::string::npos);  // never in a poll's URL
    REQUIRE(
        f.platform.respond("/pushwire/poll", 200, R"({"messages":[],"gaps":[],"cursor":"e1~c@0,d@0","more":false})"));

    // The server says the token expired: a new one, and the same position is asked again.
    f.platform.advance(500);
    REQUIRE(f.platform.respond("/pushwire/poll", 401,
                               R"({"error":{"code":"token_expired","message":"the token expired"}})"));
    CHECK(f.calls == 2);
    const std::string second = tokenExpiringAt(2001, "two");
    f.answer(second);
    f.platform.advance(0);
    open = f.platform.open("/pushwire/poll");
    REQUIRE(open.size() == 1);
    CHECK(open[0]->bearer == second);
    CHECK(open[0]->url.find("since=e1~c@0,d@0") != std::string::npos);

    // A refused channel in a poll answer goes to that subscription alone.
    REQUIRE(f.platform.respond("/pushwire/poll", 200,
                               R"({"messages":[{"channel":"c","seq":1,"data":1,"time":1}],"gaps":[],)"
                               R"("cursor":"e1~c@1","more":false,)"
                               R"("refused":[{"channel":"d","error":{"code":"forbidden","message":"no"}}]})"));
    CHECK(f.seqs == std::vector<std::uint64_t>{1});
    CHECK(f.errors == std::vector<std::string>{"d forbidden"});
    f.platform.advance(500);
    open = f.platform.open("/pushwire/poll");
    REQUIRE(open.size() == 1);
    CHECK(open[0]->url.find("channels=c&") != std::string::npos);
}
