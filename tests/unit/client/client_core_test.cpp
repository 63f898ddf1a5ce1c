// The client core with a fake clock, fake HTTP and fake transports: the test plays the
// server's side through the TransportListener interface.
#include <catch2/catch.hpp>

#include "fake_platform.hpp"
#include "pushwire/protocol/frames.hpp"

using namespace pushwire;
using namespace pushwire::test;
using protocol::Envelope;

namespace {

struct Fixture {
    FakePlatform platform;
    ClientOptions options;
    std::unique_ptr<client::ClientCore> core;
    std::vector<std::pair<State, std::string>> states;

    explicit Fixture(Transport transport = Transport::Auto, std::string url = "http://h:1", int upgradeMs = 0,
                     std::vector<std::string> more = {}) {
        FakeRegistry::made().clear();
        options.transport = transport;
        options.reconnectInitialMs = 100;
        options.reconnectMaxMs = 1600;
        options.upgradeIntervalMs = upgradeMs;
        std::vector<std::string> urls{url};
        urls.insert(urls.end(), more.begin(), more.end());
        core = std::make_unique<client::ClientCore>(platform, FakeRegistry::table(), urls, options);
        core->onStateChange([this](State s, const std::string& r) { states.emplace_back(s, r); });
        core->start();
    }
    FakeTransport& current() { return *FakeRegistry::made().back(); }
    void negotiate(const std::string& transports = R"(["websocket","sse","longpoll","poll"])",
                   const std::string& epoch = "e1") {
        REQUIRE(platform.respond("/pushwire/negotiate", 200, negotiateBody(transports, epoch)));
    }
    FakeTransport& connect(const std::string& epoch = "e1") {
        negotiate(R"(["websocket","sse","longpoll","poll"])", epoch);
        FakeTransport& t = current();
        t.listener().transportOpened(t.gen());
        return t;
    }
    static void send(FakeTransport& t, const std::string& channel, std::uint64_t seq, const std::string& data = "1") {
        t.listener().transportMessage(t.gen(), Envelope{channel, seq, data, 0});
    }
};

std::vector<std::uint64_t> seqsOf(const std::vector<Message>& messages) {
    std::vector<std::uint64_t> out;
    for (const auto& m : messages) out.push_back(m.seq);
    return out;
}

}  // namespace

TEST_CASE("the client negotiates, then connects with the first transport offered") {
    Fixture f;
    CHECK(f.core->state() == State::Connecting);
    REQUIRE(f.platform.open("/pushwire/negotiate").size() == 1);
    f.negotiate(R"(["sse","poll"])");
    REQUIRE(FakeRegistry::made().size() == 1);
    FakeTransport& t = f.current();
    CHECK(t.opened);
    CHECK(t.config().websocketUrl == "ws://h:2/pushwire/ws");
    CHECK(t.config().heartbeatMs == 1000);
    CHECK(f.core->transport() == Transport::Auto);  // not open yet
    t.listener().transportOpened(t.gen());
    CHECK(f.core->state() == State::Connected);
    CHECK(f.core->transport() == Transport::Sse);
    REQUIRE(f.states.size() == 1);
    CHECK(f.states[0].first == State::Connected);
}

TEST_CASE("auto falls back in the order of the table, skipping what negotiate does not offer") {
    Fixture f;
    f.negotiate(R"(["websocket","longpoll","poll"])");
    FakeTransport* ws = &f.current();
    ws->listener().transportClosed(ws->gen(), {protocol::ErrorCode::Internal, "refused"});
    CHECK(ws->closed);
    REQUIRE(FakeRegistry::made().size() == 2);
    FakeTransport* lp = &f.current();
    CHECK(lp->config().longPollTimeoutMs == 1000);
    f.platform.advance(4000);  // long-poll never opens either (its open timeout)
    REQUIRE(FakeRegistry::made().size() == 3);
    FakeTransport& poll = f.current();
    poll.listener().transportOpened(poll.gen());
    CHECK(f.core->transport() == Transport::Poll);
    CHECK(f.core->state() == State::Connected);
    CHECK_THAT(f.core->fallbackLog(),
               Catch::Contains("websocket: refused") && Catch::Contains("longpoll: did not open"));
}

TEST_CASE("when no transport can connect the state says why each failed") {
    Fixture f;
    f.negotiate(R"(["websocket","sse"])");
    for (int i = 0; i < 2; ++i) {
        FakeTransport& t = f.current();
        t.listener().transportClosed(t.gen(), {protocol::ErrorCode::Internal, "blocked"});
    }
    CHECK(f.core->state() == State::Reconnecting);
    CHECK_THAT(f.core->stateReason(), Catch::Contains("websocket: blocked") && Catch::Contains("sse: blocked"));
}

TEST_CASE("a forced transport is used alone") {
    Fixture f(Transport::LongPoll);
    f.negotiate();
    REQUIRE(FakeRegistry::made().size() == 1);
    FakeTransport& t = f.current();
    t.listener().transportOpened(t.gen());
    CHECK(f.core->transport() == Transport::LongPoll);
    SECTION("and a forced transport the server lacks closes the client with a reason") {
        Fixture g(Transport::WebSocket);
        g.negotiate(R"(["sse"])");
        CHECK(g.core->state() == State::Closed);
        CHECK_THAT(g.core->stateReason(), Catch::Contains("does not offer the websocket"));
    }
}

TEST_CASE("messages are delivered in seq order exactly once, whatever the transport redelivers") {
    Fixture f;
    std::vector<Message> got;
    f.core->subscribe(
        "c", [&](const Message& m) { got.push_back(m); }, {}, nullptr);
    FakeTransport& t = f.connect();
    t.listener().transportCursor(t.gen(), "e1~c@0", {"c"});
    for (std::uint64_t seq : {1, 2, 2, 1, 3, 3, 4}) Fixture::send(t, "c", seq, std::to_string(seq));
    CHECK(seqsOf(got) == std::vector<std::uint64_t>{1, 2, 3, 4});
    CHECK(got[2].data == "3");
    CHECK(got[0].channel == "c");
}

TEST_CASE("gaps are explicit: from the server once, and for a hole the server did not announce") {
    Fixture f;
    std::vector<Message> got;
    std::vector<Gap> gaps;
    SubscribeOptions options;
    options.onGap = [&](const Gap& g) { gaps.push_back(g); };
    f.core->subscribe(
        "c", [&](const Message& m) { got.push_back(m); }, options, nullptr);
    FakeTransport& t = f.connect();
    t.listener().transportCursor(t.gen(), "e1~c@0", {"c"});
    Fixture::send(t, "c", 1);
    t.listener().transportGap(t.gen(), protocol::Gap{"c", 2, 5, protocol::GapReason::HistoryEvicted, ""});
    t.listener().transportGap(t.gen(), protocol::Gap{"c", 2, 5, protocol::GapReason::HistoryEvicted, ""});
    Fixture::send(t, "c", 6);
    Fixture::send(t, "c", 9);
    REQUIRE(gaps.size() == 2);
    CHECK(gaps[0].from == 2);
    CHECK(gaps[0].to == 5u);
    CHECK(gaps[0].reason == "evicted");
    CHECK(gaps[1].from == 7);
    CHECK(gaps[1].to == 8u);
    CHECK(gaps[1].reason == "missing");
    CHECK(seqsOf(got) == std::vector<std::uint64_t>{1, 6, 9});
}

TEST_CASE("a new life of a channel's stream is reported once, then delivered from seq 1") {
    Fixture f;
    std::vector<Message> got;
    std::vector<Gap> gaps;
    SubscribeOptions options;
    options.onGap = [&](const Gap& g) { gaps.push_back(g); };
    f.core->subscribe(
        "c", [&](const Message& m) { got.push_back(m); }, options, nullptr);
    FakeTransport& t = f.connect("e1");
    t.listener().transportCursor(t.gen(), "e1~c@0", {"c"});
    Fixture::send(t, "c", 1);
    Fixture::send(t, "c", 2);
    CHECK(f.core->resumeCursor({"c"}) == "e1~c@2");
    t.listener().transportClosed(t.gen(), {protocol::ErrorCode::Internal, "server went away"});
    f.platform.advance(2000);
    FakeTransport& t2 = f.current();  // straight back to the transport that worked
    CHECK(f.platform.open("/pushwire/negotiate").empty());
    t2.listener().transportOpened(t2.gen());
    // The restarted server sees the old epoch in the cursor and says so, with the new one.
    protocol::Gap restart{"c", 3, std::nullopt, protocol::GapReason::EpochChanged, "e2"};
    t2.listener().transportGap(t2.gen(), restart);
    REQUIRE(gaps.size() == 1);
    CHECK(gaps[0].from == 3);
    CHECK_FALSE(gaps[0].to);
    CHECK(gaps[0].reason == "epoch_changed");
    CHECK(f.core->resumeCursor({"c"}) == "e2~c@0");
    t2.listener().transportGap(t2.gen(), restart);  // said twice (a reconnect in between)
    t2.listener().transportCursor(t2.gen(), "e2~c@0", {"c"});
    Fixture::send(t2, "c", 1);
    CHECK(gaps.size() == 1);
    CHECK(seqsOf(got) == std::vector<std::uint64_t>{1, 2, 1});
    CHECK(f.core->resumeCursor({"c"}) == "e2~c@1");
}

TEST_CASE("the resume cursor carries the epoch and each channel's last delivered seq") {
    Fixture f;
    f.core->subscribe(
        "a", [](const Message&) {}, {}, nullptr);
    f.core->subscribe(
        "b", [](const Message&) {}, {}, nullptr);
    FakeTransport& t = f.connect();
    CHECK(f.core->resumeCursor({"a", "b"}).empty());  // both "from now", unknown yet
    t.listener().transportCursor(t.gen(), "e1~a@4,b@9", {"a", "b"});
    Fixture::send(t, "a", 5);
    t.listener().transportCursor(t.gen(), "e1~a@100,b@100", {"a", "b"});  // known positions stay
    CHECK(f.core->resumeCursor({"a", "b"}) == "e1~a@5,b@9");
    CHECK(f.core->resumeCursor({"b"}) == "e1~b@9");
}

TEST_CASE("subscribe and unsubscribe from inside a delivery are safe") {
    Fixture f;
    std::vector<std::string> log;
    int selfId = 0;
    selfId = f.core->subscribe(
        "c",
        [&](const Message& m) {
            log.push_back("self " + std::to_string(m.seq));
            f.core->unsubscribe(selfId);
            f.core->subscribe(
                "d", [&](const Message& d) { log.push_back("d " + std::to_string(d.seq)); }, {}, nullptr);
        },
        {}, nullptr);
    f.core->subscribe(
        "c", [&](const Message& m) { log.push_back("other " + std::to_string(m.seq)); }, {}, nullptr);
    FakeTransport& t = f.connect();
    t.listener().transportCursor(t.gen(), "e1~c@0", {"c"});
    Fixture::send(t, "c", 1);
    Fixture::send(t, "c", 2);
    t.listener().transportCursor(t.gen(), "e1~d@0", {"d"});
    Fixture::send(t, "d", 1);
    CHECK(log == std::vector<std::string>{"self 1", "other 1", "other 2", "d 1"});
    CHECK(std::find(t.added.begin(), t.added.end(), "d") != t.added.end());
    SECTION("the last unsubscribe of a channel tells the transport") {
        f.core->unsubscribe(2);
        CHECK(std::find(t.removed.begin(), t.removed.end(), "c") != t.removed.end());
    }
}

TEST_CASE("invalid channel names are refused locally") {
    Fixture f;
    Error error;
    CHECK(f.core->subscribe(
              "bad name", [](const Message&) {}, {}, &error) == 0);
    CHECK(error.code == "bad_channel");
    bool called = false;
    f.core->publish("bad/name", "1", [&](std::optional<std::uint64_t> seq, const Error* e) {
        called = true;
        CHECK_FALSE(seq);
        CHECK(e->code == "bad_channel");
    });
    CHECK(called);
}

TEST_CASE(
    "reconnect uses backoff with full jitter, resets once a transport stays up, and keeps the settled transport") {
    Fixture f;
    f.platform.random_ = 0.999;
    f.negotiate(R"(["websocket","sse"])");
    FakeTransport& ws = f.current();
    ws.listener().transportOpened(ws.gen());
    ws.listener().transportClosed(ws.gen(), {protocol::ErrorCode::Internal, "cut"});
    CHECK(f.core->state() == State::Reconnecting);
    CHECK_THAT(f.core->stateReason(), Catch::Contains("cut"));
    f.platform.advance(98);
    CHECK(FakeRegistry::made().size() == 1);  // 0.999 * 100 ms not yet passed
    f.platform.advance(2);
    REQUIRE(FakeRegistry::made().size() == 2);  // the settled transport, without negotiate
    CHECK(f.platform.open("/pushwire/negotiate").empty());
    FakeTransport& refused = f.current();
    refused.listener().transportClosed(refused.gen(), {protocol::ErrorCode::Internal, "refused"});
    REQUIRE(FakeRegistry::made().size() == 3);  // it no longer opens: down the list at once
    FakeTransport& sse = f.current();
    sse.listener().transportClosed(sse.gen(), {protocol::ErrorCode::Internal, "refused"});
    f.platform.advance(198);  // nothing opens: back off more, then negotiate again
    CHECK(f.platform.open("/pushwire/negotiate").empty());
    f.platform.advance(2);
    f.negotiate(R"(["websocket","sse"])");
    FakeTransport& again = f.current();
    CHECK(FakeRegistry::made().size() == 4);
    again.listener().transportOpened(again.gen());
    CHECK(f.core->transport() == Transport::WebSocket);
    CHECK(f.core->state() == State::Connected);
    for (int i = 0; i < 4; ++i) {  // up past the stable time (the backoff's cap here), with traffic
        f.platform.advance(500);
        again.listener().transportActivity(again.gen());
    }
    again.listener().transportClosed(again.gen(), {protocol::ErrorCode::Internal, "cut"});
    f.platform.advance(100);  // reset: the first delay again
    CHECK(FakeRegistry::made().size() == 5);
}

TEST_CASE("a transport that opens and is closed at once is retried with growing delays, never in a loop") {
    Fixture f(Transport::WebSocket);
    f.platform.random_ = 0.999;
    f.negotiate();
    std::vector<std::int64_t> opens;
    for (int round = 0; round < 8; ++round) {
        FakeTransport& t = f.current();
        opens.push_back(f.platform.nowMs());
        t.listener().transportOpened(t.gen());
        t.listener().transportClosed(t.gen(), {protocol::ErrorCode::Internal, "closed with code 1013"});
        const std::size_t made = FakeRegistry::made().size();
        for (int waited = 0; FakeRegistry::made().size() == made && waited < 20000; waited += 10) {
            f.platform.advance(10);
        }
    }
    // 100, 200, 400, 800, 1600 ms, then the cap: full jitter at 0.999 of each ceiling.
    for (std::size_t i = 1; i < opens.size(); ++i) {
        const std::int64_t ceiling = std::min<std::int64_t>(100LL << std::min<std::size_t>(i - 1, 20), 1600);
        INFO("attempt " << i);
        CHECK(opens[i] - opens[i - 1] >= ceiling * 99 / 100);
    }
}

TEST_CASE("a page hint reconnects at once instead of waiting out the backoff") {
    Fixture f;
    FakeTransport& t = f.connect();
    t.listener().transportClosed(t.gen(), {protocol::ErrorCode::Internal, "offline"});
    CHECK(FakeRegistry::made().size() == 1);
    f.core->reconnectNowHint();
    CHECK(FakeRegistry::made().size() == 2);
}

TEST_CASE("late callbacks from a replaced transport are ignored") {
    Fixture f;
    std::vector<Message> got;
    f.core->subscribe(
        "c", [&](const Message& m) { got.push_back(m); }, {}, nullptr);
    FakeTransport& old = f.connect();
    old.listener().transportCursor(old.gen(), "e1~c@0", {"c"});
    client::TransportListener& listener = old.listener();
    int oldGen = old.gen();
    old.listener().transportClosed(oldGen, {protocol::ErrorCode::Internal, "cut"});
    listener.transportMessage(oldGen, Envelope{"c", 1, "1", 0});
    listener.transportOpened(oldGen);
    CHECK(got.empty());
    CHECK(f.core->state() == State::Reconnecting);
}

TEST_CASE("a silent link is declared dead after two heartbeat intervals") {
    Fixture f;
    FakeTransport& t = f.connect();  // websocket, heartbeat 1000 ms
    f.platform.advance(1500);
    t.listener().transportActivity(t.gen());
    f.platform.advance(1999);
    CHECK(f.core->state() == State::Connected);
    f.platform.advance(1);
    CHECK(f.core->state() == State::Reconnecting);
    CHECK_THAT(f.core->stateReason(), Catch::Contains("no data or heartbeat for 2000 ms"));
}

TEST_CASE("frames more often than the dead-link limit keep the link up however long it runs") {
    Fixture f;
    FakeTransport& t = f.connect();  // websocket, heartbeat 1000 ms: dead after 2000 ms of silence
    for (int i = 0; i < 20; ++i) {
        f.platform.advance(700);
        t.listener().transportActivity(t.gen());
        f.platform.advance(0);
        t.listener().transportActivity(t.gen());
    }
    CHECK(f.core->state() == State::Connected);
    f.platform.advance(1999);
    CHECK(f.core->state() == State::Connected);
    f.platform.advance(1);
    CHECK(f.core->state() == State::Reconnecting);
}

TEST_CASE("publishing goes in-band on a bidirectional transport and by HTTP otherwise") {
    Fixture f;
    FakeTransport& ws = f.connect();
    std::vector<std::string> results;
    auto record = [&](std::optional<std::uint64_t> seq, const Error* e) {
        results.push_back(seq ? "seq " + std::to_string(*seq) : e->code + ": " + e->message);
    };
    f.core->publish("c", R"({"x":1})", record);
    REQUIRE(ws.sent.size() == 1);
    CHECK_THAT(ws.sent[0], Catch::Contains(R"("type":"publish")") && Catch::Contains(R"("id":1)"));
    ws.listener().transportAck(ws.gen(), "1", 7);
    f.core->publish("c", "2", record);
    ws.listener().transportRequestError(ws.gen(), "2", {protocol::ErrorCode::TooLarge, "too big"});
    f.core->publish("c", "3", record);
    ws.listener().transportClosed(ws.gen(), {protocol::ErrorCode::Internal, "cut"});
    REQUIRE(results.size() == 2);  // "3" is sent again later, with its key (publish_retry_test.cpp)
    CHECK(results[0] == "seq 7");
    CHECK(results[1] == "too_large: too big");

    f.core->publish("c", "4", record);  // not connected: HTTP
    auto open = f.platform.open("/pushwire/publish");
    REQUIRE(open.size() == 1);
    CHECK(open[0]->method == "POST");
    CHECK_THAT(open[0]->body, Catch::StartsWith(R"({"channel":"c","data":4,"idempotency_key":")"));
    f.platform.respond("/pushwire/publish", 200, R"({"channel":"c","seq":9})");
    f.core->publish("c", "5", record);
    f.platform.respond("/pushwire/publish", 413, R"({"error":{"code":"too_large","message":"at most 10"}})");
    CHECK(results[2] == "seq 9");
    CHECK(results[3] == "too_large: at most 10");
}

TEST_CASE("a publish after a from-now subscribe waits for the subscription's position, so it is delivered") {
    Fixture f(Transport::Sse);
    std::vector<Message> got;
    f.core->subscribe(
        "c", [&](const Message& m) { got.push_back(m); }, {}, nullptr);
    std::vector<std::string> results;
    auto record = [&](std::optional<std::uint64_t> seq, const Error* e) {
        results.push_back(seq ? "seq " + std::to_string(*seq) : e->code);
    };
    f.core->publish("c", "1", record);      // held: the subscription has no position yet
    f.core->publish("other", "2", record);  // not subscribed: goes at once
    REQUIRE(f.platform.open("/pushwire/publish").size() == 1);
    CHECK_THAT(f.platform.open("/pushwire/publish")[0]->body, Catch::StartsWith(R"({"channel":"other","data":2,)"));
    FakeTransport& t = f.connect();
    CHECK(f.platform.open("/pushwire/publish").size() == 1);  // open is not enough: the position is
    t.listener().transportCursor(t.gen(), "e1~c@4", {"c"});
    auto open = f.platform.open("/pushwire/publish");
    REQUIRE(open.size() == 2);
    CHECK_THAT(open[1]->body, Catch::StartsWith(R"({"channel":"c","data":1,)"));
    CHECK(f.core->position(1) == "e1~c@4");
    f.platform.respond("/pushwire/publish", 200, R"({"channel":"other","seq":1})");
    f.platform.respond("/pushwire/publish", 200, R"({"channel":"c","seq":5})");
    Fixture::send(t, "c", 5);
    CHECK(seqsOf(got) == std::vector<std::uint64_t>{5});
    CHECK(results == std::vector<std::string>{"seq 1", "seq 5"});

    SECTION("with no server telling the position, a held publish goes after 10 s anyway") {
        Fixture g(Transport::Sse);
        g.core->subscribe(
            "d", [](const Message&) {}, {}, nullptr);
        g.core->publish("d", "1", record);
        g.platform.advance(5000);
        g.core->publish("d", "2", record);
        g.platform.advance(5000);
        REQUIRE(g.platform.open("/pushwire/publish").size() == 1);
        g.platform.advance(4999);
        CHECK(g.platform.open("/pushwire/publish").size() == 1);
        g.platform.advance(1);
        CHECK(g.platform.open("/pushwire/publish").size() == 2);
    }
    SECTION("closing fails what is held, and unsubscribing sends it") {
        Fixture g(Transport::Sse);
        int sub = g.core->subscribe(
            "d", [](const Message&) {}, {}, nullptr);
        g.core->subscribe(
            "e", [](const Message&) {}, {}, nullptr);
        g.core->publish("d", "1", record);
        g.core->publish("e", "2", record);
        g.core->unsubscribe(sub);
        CHECK(g.platform.open("/pushwire/publish").size() == 1);
        results.clear();
        g.core->close();
        CHECK(results == std::vector<std::string>{"closed"});
    }
}

TEST_CASE("close stops everything and is reported once") {
    Fixture f;
    FakeTransport& t = f.connect();
    f.core->close();
    CHECK(t.closed);
    CHECK(f.core->state() == State::Closed);
    f.core->close();
    CHECK(f.states.back().first == State::Closed);
    CHECK(std::count_if(f.states.begin(), f.states.end(), [](auto& s) { return s.first == State::Closed; }) == 1);
    bool rejected = false;
    f.core->publish("c", "1",
                    [&](std::optional<std::uint64_t> seq, const Error* e) { rejected = !seq && e->code == "closed"; });
    CHECK(rejected);
    f.platform.advance(100000);
    CHECK(FakeRegistry::made().size() == 1);
}

TEST_CASE("a malformed server URL closes the client with a reason") {
    Fixture f(Transport::Auto, "ftp:/nope");
    CHECK(f.core->state() == State::Closed);
    CHECK_THAT(f.core->stateReason(), Catch::Contains("invalid server URL"));
    CHECK(f.platform.open().empty());
}

TEST_CASE("a transport that opens but dies before any traffic twice running is dropped for the next") {
    Fixture f;
    f.negotiate(R"(["longpoll","poll"])");
    for (int round = 0; round < 2; ++round) {
        FakeTransport& lp = f.current();
        lp.listener().transportOpened(lp.gen());
        CHECK(f.core->transport() == Transport::LongPoll);
        lp.listener().transportClosed(lp.gen(), {protocol::ErrorCode::Internal, "held request killed"});
        f.platform.advance(2000);
    }
    FakeTransport& poll = f.current();
    poll.listener().transportOpened(poll.gen());
    CHECK(f.core->transport() == Transport::Poll);
    SECTION("but traffic after opening resets the count") {
        Fixture g;
        g.negotiate(R"(["longpoll","poll"])");
        for (int round = 0; round < 3; ++round) {
            FakeTransport& lp = g.current();
            lp.listener().transportOpened(lp.gen());
            lp.listener().transportActivity(lp.gen());
            lp.listener().transportClosed(lp.gen(), {protocol::ErrorCode::Internal, "cut"});
            g.platform.advance(2000);
        }
        CHECK(g.current().config().longPollTimeoutMs == 1000);
        g.current().listener().transportOpened(g.current().gen());
        CHECK(g.core->transport() == Transport::LongPoll);
    }
}

TEST_CASE("the transport that worked is remembered for later clients of the same server") {
    Fixture f;
    f.negotiate(R"(["websocket","sse"])");
    FakeTransport& ws = f.current();
    ws.listener().transportClosed(ws.gen(), {protocol::ErrorCode::Internal, "refused"});
    FakeTransport& sse = f.current();
    sse.listener().transportOpened(sse.gen());
    CHECK(f.core->transport() == Transport::Sse);

    // A second client on the same page (same platform) starts with SSE.
    client::ClientCore again(f.platform, FakeRegistry::table(), {"http://h:1"}, f.options);
    again.start();
    f.platform.respond("/pushwire/negotiate", 200, negotiateBody(R"(["websocket","sse"])"));
    FakeTransport& second = f.current();
    second.listener().transportOpened(second.gen());
    CHECK(again.transport() == Transport::Sse);
    SECTION("another server is probed from the top") {
        client::ClientCore other(f.platform, FakeRegistry::table(), {"http://elsewhere:1"}, f.options);
        other.start();
        f.platform.respond("/pushwire/negotiate", 200, negotiateBody(R"(["websocket","sse"])"));
        f.current().listener().transportOpened(f.current().gen());
        CHECK(other.transport() == Transport::WebSocket);
    }
}

TEST_CASE("a better transport is tried in the background and taken without loss or repeat") {
    Fixture f(Transport::Auto, "http://h:1", 5000);
    std::vector<std::uint64_t> seqs;
    f.core->subscribe(
        "c", [&](const Message& m) { seqs.push_back(m.seq); }, {}, nullptr);
    f.negotiate(R"(["websocket","sse"])");
    FakeTransport* ws = &f.current();
    ws->listener().transportClosed(ws->gen(), {protocol::ErrorCode::Internal, "refused"});
    FakeTransport* sse = &f.current();
    sse->listener().transportOpened(sse->gen());
    sse->listener().transportCursor(sse->gen(), "e1~c@0", {"c"});
    Fixture::send(*sse, "c", 1);

    auto live = [&](FakeTransport& t, int ms) {  // heartbeats keep the dead-link timer quiet
        for (int i = 0; i < ms / 500; ++i) {
            f.platform.advance(500);
            t.listener().transportActivity(t.gen());
        }
    };
    live(*sse, 5000);  // first upgrade round: the WebSocket still refuses
    REQUIRE(FakeRegistry::made().size() == 3);
    FakeTransport* probe = &f.current();
    probe->listener().transportClosed(probe->gen(), {protocol::ErrorCode::Internal, "refused"});
    CHECK(f.core->transport() == Transport::Sse);
    Fixture::send(*sse, "c", 2);

    live(*sse, 5000);  // second round: it opens
    probe = &f.current();
    FakeTransport* old = sse;
    Fixture::send(*probe, "c", 3);  // nothing counts before the probe opens
    probe->listener().transportOpened(probe->gen());
    CHECK(f.core->transport() == Transport::WebSocket);
    CHECK(old->closed);
    CHECK(f.core->resumeCursor({"c"}) == "e1~c@2");
    Fixture::send(*probe, "c", 2);  // the new transport resumes from the cursor: 2 is a repeat
    Fixture::send(*probe, "c", 3);
    CHECK(seqs == std::vector<std::uint64_t>{1, 2, 3});
    live(*probe, 60000);
    CHECK(FakeRegistry::made().size() == 4);  // at the top: no more probes
}

TEST_CASE("on a dead server the client moves to the next one and resumes there from its positions") {
    Fixture f(Transport::Sse, "http://a:1", 0, {"http://b:2"});
    std::vector<std::uint64_t> seqs;
    std::vector<Gap> gaps;
    SubscribeOptions options;
    options.onGap = [&](const Gap& g) { gaps.push_back(g); };
    f.core->subscribe(
        "c", [&](const Message& m) { seqs.push_back(m.seq); }, options, nullptr);
    f.negotiate();
    FakeTransport& onA = f.current();
    CHECK(onA.config().baseUrl == "http://a:1");
    onA.listener().transportOpened(onA.gen());
    onA.listener().transportCursor(onA.gen(), "e1~c@4", {"c"});
    Fixture::send(onA, "c", 5);
    onA.listener().transportClosed(onA.gen(), {protocol::ErrorCode::Internal, "the connection was cut"});
    // The reconnect to a fails to open (a is gone): straight to b, which is asked afresh.
    f.platform.advance(2000);
    FakeTransport& again = f.current();
    again.listener().transportClosed(again.gen(), {protocol::ErrorCode::Internal, "refused"});
    REQUIRE(f.platform.respond("b:2/pushwire/negotiate", 200, negotiateBody(R"(["sse"])")));
    FakeTransport& onB = f.current();
    CHECK(onB.config().baseUrl == "http://b:2");
    CHECK(f.core->server() == "http://b:2");
    CHECK(f.core->resumeCursor({"c"}) == "e1~c@5");  // b continues after 5
    onB.listener().transportOpened(onB.gen());
    Fixture::send(onB, "c", 6);
    CHECK(seqs == std::vector<std::uint64_t>{5, 6});
    CHECK(gaps.empty());
    SECTION("and an unreachable first server at start is skipped at once") {
        Fixture g(Transport::Sse, "http://down:1", 0, {"http://up:2"});
        REQUIRE(g.platform.respond("down:1/pushwire/negotiate", 0, ""));
        REQUIRE(g.platform.respond("up:2/pushwire/negotiate", 200, negotiateBody(R"(["sse"])")));
        CHECK(g.current().config().baseUrl == "http://up:2");
    }
}

TEST_CASE("a since that is not a position of the channel reads from now, with bad_cursor said, not refused") {
    Fixture f;
    Error error;
    std::vector<Message> got;
    const int id = f.core->subscribe(
        "c", [&](const Message& m) { got.push_back(m); }, SubscribeOptions{"garbage", {}, {}}, &error);
    CHECK(id != 0);
    CHECK(error.code == "bad_cursor");
    CHECK(error.message.find("reading from now") != std::string::npos);
    FakeTransport& t = f.connect();
    CHECK(f.core->resumeCursor({"c"}).empty());  // from now: no position asked for
    t.listener().transportCursor(t.gen(), "e1~c@4", {"c"});
    Fixture::send(t, "c", 5);
    CHECK(seqsOf(got) == std::vector<std::uint64_t>{5});
}

TEST_CASE("disconnect() keeps subscriptions and positions, and connect() resumes from them") {
    Fixture f;
    std::vector<Message> got;
    std::vector<int> served;
    f.core->onSubscribed([&](int sub) { served.push_back(sub); });
    const int id = f.core->subscribe(
        "c", [&](const Message& m) { got.push_back(m); }, SubscribeOptions{}, nullptr);
    FakeTransport& t = f.connect();
    t.listener().transportCursor(t.gen(), "e1~c@0", {"c"});
    Fixture::send(t, "c", 1);
    CHECK(served == std::vector<int>{id});
    f.core->disconnect();
    CHECK(t.closed);
    CHECK(f.core->state() == State::Disconnected);
    CHECK(f.core->stateReason() == "disconnected by the application");
    f.platform.advance(60000);  // nothing reconnects meanwhile
    CHECK(FakeRegistry::made().size() == 1);
    f.core->connect();
    CHECK(f.core->state() == State::Connecting);
    REQUIRE(FakeRegistry::made().size() == 2);  // straight back to the transport that worked
    FakeTransport& again = f.current();
    CHECK(f.core->resumeCursor({"c"}) == "e1~c@1");
    again.listener().transportOpened(again.gen());
    again.listener().transportCursor(again.gen(), "e1~c@1", {"c"});
    CHECK(served == std::vector<int>{id, id});  // served again on the new connection
    Fixture::send(again, "c", 2);
    CHECK(seqsOf(got) == std::vector<std::uint64_t>{1, 2});
}
