// What the backend's server API does to a client (docs/api.md): disconnect (stop, or
// reconnect and resume), a channel subscribed and one unsubscribed from the server side,
// and a revoked token. The test plays the server's side: through the TransportListener
// interface with fake transports, and with fake HTTP for the polling transports, which
// read the poll answers and 409s themselves.
#include <catch2/catch.hpp>

#include "fake_platform.hpp"
#include "pushwire/protocol/frames.hpp"
#include "transports/registry.hpp"

using namespace pushwire;
using namespace pushwire::test;
using protocol::Envelope;
using protocol::ErrorCode;

namespace {

struct ApiFixture {
    FakePlatform platform;
    std::unique_ptr<client::ClientCore> core;
    std::vector<std::string> events;  // what the application heard, in order
    std::vector<std::uint64_t> seqs;  // of the subscription
    int tokenCalls = 0;
    std::vector<TokenCallback> asks;

    ApiFixture(Transport transport, std::vector<client::TransportInfo> table, bool withGetToken = false) {
        FakeRegistry::made().clear();
        ClientOptions options;
        options.transport = transport;
        options.reconnectInitialMs = 100;
        options.reconnectMaxMs = 1600;
        options.pollIntervalMs = 500;
        if (withGetToken) {
            options.getToken = [this](TokenCallback done) {
                ++tokenCalls;
                asks.push_back(std::move(done));
            };
        }
        core = std::make_unique<client::ClientCore>(platform, std::move(table), std::vector<std::string>{"http://h:1"},
                                                    options);
        core->onServerSubscribe([this](const std::string& c) { events.push_back("subscribe " + c); });
        core->onServerUnsubscribe([this](const std::string& c) { events.push_back("unsubscribe " + c); });
        core->onServerMessage(
            [this](const Message& m) { events.push_back("message " + m.channel + " " + std::to_string(m.seq)); });
        core->onEnded(
            [this](int id, const std::string& why) { events.push_back("ended " + std::to_string(id) + " " + why); });
        core->start();
    }
    int subscribe(const std::string& channel) {
        SubscribeOptions sub;
        sub.onError = [this](const Error& e) { events.push_back("error " + e.code); };
        return core->subscribe(
            channel, [this](const Message& m) { seqs.push_back(m.seq); }, sub, nullptr);
    }
    FakeTransport& connect() {
        if (!platform.open("/pushwire/negotiate").empty()) {
            REQUIRE(platform.respond("/pushwire/negotiate", 200, negotiateBody()));
        }
        FakeTransport& t = *FakeRegistry::made().back();
        t.listener().transportOpened(t.gen());
        return t;
    }
    void answerToken(const std::string& token) {
        REQUIRE(!asks.empty());
        auto done = std::move(asks.front());
        asks.erase(asks.begin());
        done(token);
    }
};

std::string batch(const std::string& messages, const std::string& cursor, const std::string& extra = "") {
    return R"({"messages":[)" + messages + R"(],"gaps":[],"cursor":")" + cursor + R"(","more":false)" + extra + "}";
}

std::string msg(const std::string& channel, std::uint64_t seq) {
    return R"({"channel":")" + channel + R"(","seq":)" + std::to_string(seq) + R"(,"data":null,"time":1})";
}

std::string disconnected(bool reconnect) {
    return std::string(R"({"error":{"code":"disconnected","message":"disconnected by the server","reconnect":)") +
           (reconnect ? "true" : "false") + "}}";
}

}  // namespace

TEST_CASE("a disconnect without reconnect stops the client for good, saying so") {
    ApiFixture f(Transport::WebSocket, FakeRegistry::table());
    f.subscribe("c");
    FakeTransport& t = f.connect();
    t.listener().transportDisconnected(t.gen(), false);
    CHECK(f.core->state() == State::Closed);
    CHECK(f.core->stateReason() == "disconnected by server");
    CHECK(t.closed);
    // Nothing is tried again, however long one waits.
    const std::size_t made = FakeRegistry::made().size();
    f.platform.advance(60000);
    CHECK(FakeRegistry::made().size() == made);
    CHECK(f.platform.open("/pushwire/negotiate").empty());
}

TEST_CASE("a disconnect with reconnect comes back and resumes after the last seq delivered") {
    ApiFixture f(Transport::WebSocket, FakeRegistry::table());
    const int sub = f.subscribe("c");
    FakeTransport& t = f.connect();
    t.listener().transportCursor(t.gen(), "e1~c@3", {"c"});
    t.listener().transportMessage(t.gen(), Envelope{"c", 4, "1", 0});
    t.listener().transportDisconnected(t.gen(), true);
    CHECK(f.core->state() == State::Reconnecting);
    CHECK(f.core->stateReason() == "disconnected by server; reconnecting");
    f.platform.advance(2000);
    REQUIRE(FakeRegistry::made().size() == 2);
    FakeTransport& again = *FakeRegistry::made().back();
    again.listener().transportOpened(again.gen());
    CHECK(f.core->state() == State::Connected);
    CHECK(f.core->position(sub) == "e1~c@4");
    CHECK(again.listener().resumeCursor({"c"}) == "e1~c@4");
    // The server resends from there: nothing lost, nothing twice.
    again.listener().transportMessage(again.gen(), Envelope{"c", 4, "1", 0});
    again.listener().transportMessage(again.gen(), Envelope{"c", 5, "1", 0});
    CHECK(f.seqs == std::vector<std::uint64_t>{4, 5});
}

TEST_CASE("a channel subscribed by the server is read, told, delivered to onMessage and resumed") {
    ApiFixture f(Transport::WebSocket, FakeRegistry::table());
    f.subscribe("c");
    FakeTransport& t = f.connect();
    t.listener().transportServerSubscribed(t.gen(), {"alerts"});
    t.listener().transportCursor(t.gen(), "e1~alerts@7", {"alerts"});
    t.listener().transportMessage(t.gen(), Envelope{"alerts", 8, "1", 0});
    t.listener().transportMessage(t.gen(), Envelope{"c", 1, "1", 0});
    CHECK(f.events == std::vector<std::string>{"subscribe alerts", "message alerts 8"});
    CHECK(f.seqs == std::vector<std::uint64_t>{1});  // the subscription hears its own channel only
    // The server already reads it: nothing is asked of the transport.
    CHECK(t.added.empty());
    auto channels = t.listener().channels();
    CHECK(std::find(channels.begin(), channels.end(), "alerts") != channels.end());
    // After a cut the client asks for it itself, from where it was.
    t.listener().transportClosed(t.gen(), {ErrorCode::Internal, "cut"});
    f.platform.advance(2000);
    FakeTransport& again = *FakeRegistry::made().back();
    again.listener().transportOpened(again.gen());
    CHECK(again.listener().resumeCursor({"alerts"}) == "e1~alerts@8");
    again.listener().transportMessage(again.gen(), Envelope{"alerts", 8, "1", 0});
    again.listener().transportMessage(again.gen(), Envelope{"alerts", 9, "1", 0});
    CHECK(f.events.back() == "message alerts 9");
    CHECK(f.events.size() == 3);
}

TEST_CASE("a channel unsubscribed by the server ends its subscriptions and is never asked for again") {
    ApiFixture f(Transport::WebSocket, FakeRegistry::table());
    const int sub = f.subscribe("c");
    f.subscribe("d");
    FakeTransport& t = f.connect();
    t.listener().transportServerUnsubscribed(t.gen(), {"c"});
    CHECK(f.events ==
          std::vector<std::string>{"ended " + std::to_string(sub) + " unsubscribed by the server", "unsubscribe c"});
    CHECK_FALSE(f.core->hasSubscription(sub));
    CHECK(t.listener().channels() == std::vector<std::string>{"d"});
    CHECK(t.removed.empty());  // the server stopped it already
    // Told again (a poller hears it in every answer): nothing more.
    t.listener().transportServerUnsubscribed(t.gen(), {"c"});
    CHECK(f.events.size() == 2);
    t.listener().transportMessage(t.gen(), Envelope{"c", 1, "1", 0});
    CHECK(f.seqs.empty());
}

TEST_CASE("a revoked token without getToken: onError once, then the client stops naming the revocation") {
    ApiFixture f(Transport::WebSocket, FakeRegistry::table());
    f.subscribe("c");
    FakeTransport& t = f.connect();
    const protocol::Error revoked{ErrorCode::TokenRevoked, "the token was revoked; get a new one"};
    // WebSocket: an error frame, then close 4001 carrying the same error.
    t.listener().transportRequestError(t.gen(), "", revoked, "");
    t.listener().transportClosed(t.gen(), revoked);
    CHECK(f.events == std::vector<std::string>{"error token_revoked"});
    CHECK(f.core->state() == State::Closed);
    CHECK_THAT(f.core->stateReason(), Catch::StartsWith("token_revoked: the token was revoked"));
    const std::size_t made = FakeRegistry::made().size();
    f.platform.advance(60000);
    CHECK(FakeRegistry::made().size() == made);
}

TEST_CASE("a revoked token with getToken: onError once, a new token is asked for and the client resumes") {
    ApiFixture f(Transport::WebSocket, FakeRegistry::table(), true);
    f.subscribe("c");
    REQUIRE(f.platform.respond("/pushwire/negotiate", 200, negotiateBody()));
    f.answerToken("first");
    FakeTransport& t = f.connect();
    t.listener().transportCursor(t.gen(), "e1~c@2", {"c"});
    const protocol::Error revoked{ErrorCode::TokenRevoked, "the token was revoked; get a new one"};
    t.listener().transportRequestError(t.gen(), "", revoked, "");
    t.listener().transportClosed(t.gen(), revoked);
    CHECK(f.events == std::vector<std::string>{"error token_revoked"});
    CHECK(f.core->state() == State::Reconnecting);
    CHECK(f.tokenCalls == 2);
    // The backend gives the same (revoked) token again: refused again, told no more, and
    // asked again only with the backoff (no flapping).
    f.answerToken("first");
    REQUIRE(FakeRegistry::made().size() == 2);
    FakeTransport& second = *FakeRegistry::made().back();
    second.listener().transportClosed(second.gen(), revoked);
    CHECK(f.events.size() == 1);
    CHECK(f.core->state() == State::Reconnecting);
    CHECK(f.tokenCalls == 2);
    f.platform.advance(2000);
    CHECK(f.tokenCalls == 3);
    f.answerToken("fresh");
    FakeTransport& third = *FakeRegistry::made().back();
    third.listener().transportOpened(third.gen());
    CHECK(third.config().currentToken() == "fresh");
    CHECK(third.listener().resumeCursor({"c"}) == "e1~c@2");
    CHECK(f.core->state() == State::Connected);
}

TEST_CASE("poll: a 409 disconnected without reconnect stops the client") {
    for (Transport transport : {Transport::Poll, Transport::LongPoll}) {
        ApiFixture f(transport, client::defaultTransports());
        f.subscribe("c");
        REQUIRE(f.platform.respond("/pushwire/negotiate", 200, negotiateBody(R"(["longpoll","poll"])")));
        REQUIRE(f.platform.respond("/pushwire/", 200, batch("", "e1~c@1")));
        f.platform.advance(500);
        REQUIRE(f.platform.respond("/pushwire/", 409, disconnected(false)));
        CHECK(f.core->state() == State::Closed);
        CHECK(f.core->stateReason() == "disconnected by server");
        f.platform.advance(60000);
        CHECK(f.platform.open("/pushwire/").empty());
    }
}

TEST_CASE("poll: a 409 disconnected with reconnect asks again and resumes from the cursor") {
    for (Transport transport : {Transport::Poll, Transport::LongPoll}) {
        ApiFixture f(transport, client::defaultTransports());
        f.subscribe("c");
        REQUIRE(f.platform.respond("/pushwire/negotiate", 200, negotiateBody(R"(["longpoll","poll"])")));
        REQUIRE(f.platform.respond("/pushwire/", 200, batch(msg("c", 2), "e1~c@2")));
        f.platform.advance(500);
        REQUIRE(f.platform.respond("/pushwire/", 409, disconnected(true)));
        CHECK(f.core->state() == State::Reconnecting);
        f.platform.advance(2000);
        auto next = f.platform.open("/pushwire/");
        REQUIRE(next.size() == 1);
        CHECK(next[0]->url.find("since=e1~c@2") != std::string::npos);
        REQUIRE(f.platform.respond("/pushwire/", 200, batch(msg("c", 3), "e1~c@3")));
        CHECK(f.core->state() == State::Connected);
        CHECK(f.seqs == std::vector<std::uint64_t>{2, 3});
    }
}

TEST_CASE("poll: the answers' subscribed and unsubscribed change what the client asks for") {
    ApiFixture f(Transport::Poll, client::defaultTransports());
    const int sub = f.subscribe("c");
    REQUIRE(f.platform.respond("/pushwire/negotiate", 200, negotiateBody(R"(["poll"])")));
    REQUIRE(f.platform.respond("/pushwire/poll", 200, batch("", "e1~c@1")));
    f.platform.advance(500);
    // The server read `alerts` from now for this request: its messages, and its position.
    REQUIRE(f.platform.respond("/pushwire/poll", 200,
                               batch(msg("alerts", 5), "e1~c@1,alerts@5", R"(,"subscribed":["alerts"])")));
    CHECK(f.events == std::vector<std::string>{"subscribe alerts", "message alerts 5"});
    f.platform.advance(500);
    auto next = f.platform.open("/pushwire/poll");
    REQUIRE(next.size() == 1);
    CHECK(next[0]->url.find("channels=alerts,c&since=") != std::string::npos);
    // `c` taken away: its subscription ends, and it is asked for no more.
    REQUIRE(f.platform.respond("/pushwire/poll", 200, batch("", "e1~alerts@5", R"(,"unsubscribed":["c"])")));
    CHECK(f.events.back() == "unsubscribe c");
    CHECK_FALSE(f.core->hasSubscription(sub));
    f.platform.advance(500);
    next = f.platform.open("/pushwire/poll");
    REQUIRE(next.size() == 1);
    CHECK(next[0]->url.find("channels=alerts&since=e1~alerts@5") != std::string::npos);
}

TEST_CASE("poll: a 401 token_revoked without getToken stops the client after one onError") {
    ApiFixture f(Transport::Poll, client::defaultTransports());
    f.subscribe("c");
    REQUIRE(f.platform.respond("/pushwire/negotiate", 200, negotiateBody(R"(["poll"])")));
    REQUIRE(f.platform.respond("/pushwire/poll", 200, batch("", "e1~c@1")));
    f.platform.advance(500);
    REQUIRE(
        f.platform.respond("/pushwire/poll", 401,
                           R"({"error":{"code":"token_revoked","message":"the token was revoked; get a new one"}})"));
    CHECK(f.events == std::vector<std::string>{"error token_revoked"});
    CHECK(f.core->state() == State::Closed);
    f.platform.advance(60000);
    CHECK(f.platform.open("/pushwire/poll").empty());
}
