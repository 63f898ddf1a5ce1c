// Presence in the client core: join/leave entries to onJoin/onLeave, the exact member set
// from a snapshot plus the entries after it (across reconnects, gaps and repeats), the
// presence queries over the WebSocket and over HTTP, the session and the client id. The
// test plays the server through fake transports and fake HTTP.
#include <catch2/catch.hpp>
#include <set>

#include "fake_platform.hpp"
#include "pushwire/protocol/frames.hpp"

using namespace pushwire;
using namespace pushwire::test;
using protocol::Envelope;

namespace {

std::string memberJson(const std::string& client, const std::string& user = "") {
    return R"({"client":")" + client + R"(","user":")" + user + R"(","info":null})";
}

std::string snapshot(const std::vector<std::string>& clients, const std::string& position, bool truncated = false) {
    std::string out = R"({"channel":"c","members":[)";
    for (std::size_t i = 0; i < clients.size(); ++i) out += (i ? "," : "") + memberJson(clients[i]);
    return out + R"(],"position":")" + position + R"(")" + (truncated ? R"(,"truncated":true)" : "") + "}";
}

// What one watching subscription was told, in order: "+A" for a join of A, "-A" for a leave.
struct Watcher {
    std::vector<std::string> events;
    std::vector<Message> messages;
    std::vector<Gap> gaps;
    std::set<std::string> set;  // the member set the events add up to

    SubscribeOptions options() {
        SubscribeOptions o;
        o.onJoin = [this](const Member& m) {
            events.push_back("+" + m.client);
            CHECK(set.insert(m.client).second);  // never told twice
        };
        o.onLeave = [this](const Member& m) {
            events.push_back("-" + m.client);
            CHECK(set.erase(m.client) == 1);
        };
        o.onGap = [this](const Gap& g) { gaps.push_back(g); };
        return o;
    }
    MessageHandler onMessage() {
        return [this](const Message& m) { messages.push_back(m); };
    }
};

struct Fixture {
    FakePlatform platform;
    std::unique_ptr<client::ClientCore> core;

    explicit Fixture(Transport transport = Transport::WebSocket) {
        FakeRegistry::made().clear();
        ClientOptions options;
        options.transport = transport;
        options.reconnectInitialMs = 100;
        options.reconnectMaxMs = 100;
        options.upgradeIntervalMs = 0;
        core = std::make_unique<client::ClientCore>(platform, FakeRegistry::table(),
                                                    std::vector<std::string>{"http://h:1"}, options);
        core->start();
    }
    FakeTransport& current() { return *FakeRegistry::made().back(); }
    // The transport opens and the server tells the channel's position.
    FakeTransport& connect(std::uint64_t at) {
        if (FakeRegistry::made().empty()) {
            REQUIRE(platform.respond("/pushwire/negotiate", 200, negotiateBody()));
        }
        FakeTransport& t = current();
        t.listener().transportOpened(t.gen());
        t.listener().transportCursor(t.gen(), "e1~c@" + std::to_string(at), {"c"});
        return t;
    }
    // The transport drops and the client reconnects (after its backoff).
    FakeTransport& cut() {
        FakeTransport& old = current();
        const int oldGeneration = old.gen();
        old.listener().transportClosed(old.gen(), {protocol::ErrorCode::Internal, "cut"});
        platform.advance(200);
        FakeTransport& t = current();
        REQUIRE(t.gen() != oldGeneration);
        t.listener().transportOpened(t.gen());
        return t;
    }
    static void entry(FakeTransport& t, std::uint64_t seq, const std::string& event, const std::string& client) {
        Envelope e{"c", seq, "null", 0};
        e.event = event == "join" ? protocol::EntryEvent::Join : protocol::EntryEvent::Leave;
        e.member = protocol::Member{client, "u-" + client, "null"};
        t.listener().transportMessage(t.gen(), e);
    }
    static void message(FakeTransport& t, std::uint64_t seq) {
        t.listener().transportMessage(t.gen(), Envelope{"c", seq, "1", 0});
    }
    // The id of the last presence query sent in-band, or "" when none was.
    static std::string presenceQueryId(FakeTransport& t, const std::string& type = "presence") {
        for (auto it = t.sent.rbegin(); it != t.sent.rend(); ++it) {
            if (it->find("\"type\":\"" + type + "\"") == std::string::npos) continue;
            auto at = it->find("\"id\":");
            return it->substr(at + 5, it->find('}', at) - at - 5);
        }
        return "";
    }
    // Answers the snapshot asked in-band.
    static void answer(FakeTransport& t, const std::vector<std::string>& clients, std::uint64_t at) {
        const std::string id = presenceQueryId(t);
        REQUIRE_FALSE(id.empty());
        auto decoded = protocol::decodePresenceAnswer(snapshot(clients, "e1~c@" + std::to_string(at)));
        REQUIRE(decoded.ok());
        t.listener().transportPresence(t.gen(), id, *decoded);
    }
};

}  // namespace

TEST_CASE("join and leave entries go to onJoin and onLeave, never to onMessage, with no gap for their seqs") {
    Fixture f;
    Watcher w;
    f.core->subscribe("c", w.onMessage(), w.options(), nullptr);
    FakeTransport& t = f.connect(0);
    // The member set is asked in-band once the channel's position is known.
    CHECK_THAT(t.sent.back(), Catch::Contains(R"("type":"presence","channel":"c")"));
    Fixture::answer(t, {"A"}, 0);
    CHECK(w.events == std::vector<std::string>{"+A"});
    Fixture::message(t, 1);
    Fixture::entry(t, 2, "join", "B");
    Fixture::message(t, 3);
    Fixture::entry(t, 4, "leave", "A");
    Fixture::message(t, 5);
    CHECK(w.events == std::vector<std::string>{"+A", "+B", "-A"});
    REQUIRE(w.messages.size() == 3);
    CHECK(w.messages[1].seq == 3);
    CHECK(w.gaps.empty());
    CHECK(f.core->position(1) == "e1~c@5");
    SECTION("the member carries user and info") {
        Member seen;
        SubscribeOptions o;
        o.onJoin = [&](const Member& m) { seen = m; };
        f.core->subscribe(
            "c", [](const Message&) {}, o, nullptr);
        Fixture::answer(t, {"A"}, 5);
        Envelope e{"c", 6, "null", 0};
        e.event = protocol::EntryEvent::Join;
        e.member = protocol::Member{"C", "carol", R"({"name":"Carol"})"};
        t.listener().transportMessage(t.gen(), e);
        CHECK(seen.client == "C");
        CHECK(seen.user == "carol");
        CHECK(seen.info == R"({"name":"Carol"})");
    }
}

TEST_CASE("a subscription without onJoin or onLeave skips entries silently and asks no member set") {
    Fixture f;
    std::vector<Message> got;
    std::vector<Gap> gaps;
    SubscribeOptions o;
    o.onGap = [&](const Gap& g) { gaps.push_back(g); };
    f.core->subscribe(
        "c", [&](const Message& m) { got.push_back(m); }, o, nullptr);
    FakeTransport& t = f.connect(0);
    Fixture::message(t, 1);
    Fixture::entry(t, 2, "join", "B");
    Fixture::message(t, 3);
    CHECK(got.size() == 2);
    CHECK(gaps.empty());
    CHECK(Fixture::presenceQueryId(t).empty());
    CHECK(f.platform.open("/pushwire/presence").empty());
}

TEST_CASE("entries that arrive while the snapshot is in flight wait, and only those after its position apply") {
    Fixture f;
    Watcher w;
    f.core->subscribe("c", w.onMessage(), w.options(), nullptr);
    FakeTransport& t = f.connect(10);
    Fixture::entry(t, 11, "join", "B");  // the snapshot (read at 12) has it
    Fixture::entry(t, 12, "leave", "A");
    Fixture::entry(t, 13, "join", "C");  // after the snapshot: applied after it
    CHECK(w.events.empty());
    Fixture::answer(t, {"B"}, 12);
    CHECK(w.events == std::vector<std::string>{"+B", "+C"});
    SECTION("and entries the stream brings later at or before the snapshot are dropped") {
        Fixture g;
        Watcher v;
        g.core->subscribe("c", v.onMessage(), v.options(), nullptr);
        FakeTransport& u = g.connect(10);
        Fixture::answer(u, {"B", "C"}, 13);  // the server is ahead of the stream
        Fixture::entry(u, 11, "join", "B");
        Fixture::entry(u, 12, "leave", "A");
        Fixture::entry(u, 13, "join", "C");
        Fixture::entry(u, 14, "leave", "B");
        CHECK(v.events == std::vector<std::string>{"+B", "+C", "-B"});
    }
}

TEST_CASE("after a reconnect with changes during the cut the member set is exact: no missed, no repeated event") {
    Fixture f;
    Watcher w;
    f.core->subscribe("c", w.onMessage(), w.options(), nullptr);
    FakeTransport& first = f.connect(3);
    const std::string session = first.config().session;
    Fixture::answer(first, {"A", "B"}, 3);
    Fixture::entry(first, 4, "join", "X");
    CHECK(w.set == std::set<std::string>{"A", "B", "X"});
    // Cut. Meanwhile B leaves (5), C joins (6), X leaves and joins again (7, 8).
    FakeTransport& second = f.cut();
    CHECK(second.config().session == session);  // one session per client
    std::vector<std::string> told;              // what the cut changed, as the subscription hears it
    SECTION("the resumed stream first, then the snapshot") {
        Fixture::entry(second, 5, "leave", "B");
        Fixture::entry(second, 6, "join", "C");
        Fixture::entry(second, 7, "leave", "X");
        Fixture::answer(second, {"A", "C", "X"}, 8);
        Fixture::entry(second, 8, "join", "X");
        told = {"-B", "+C"};
    }
    SECTION("the snapshot first, then the resumed stream") {
        Fixture::answer(second, {"A", "C", "X"}, 8);
        for (std::uint64_t seq = 5; seq <= 8; ++seq) {
            Fixture::entry(second, seq, seq == 5 || seq == 7 ? "leave" : "join", seq == 5 ? "B" : seq == 6 ? "C" : "X");
        }
        told = {"-B", "+C"};
    }
    SECTION("a snapshot read halfway through the changes") {
        Fixture::answer(second, {"A", "C"}, 7);
        Fixture::entry(second, 5, "leave", "B");
        Fixture::entry(second, 6, "join", "C");
        Fixture::entry(second, 7, "leave", "X");
        Fixture::entry(second, 8, "join", "X");
        told = {"-B", "-X", "+C", "+X"};
    }
    CHECK(w.set == std::set<std::string>{"A", "C", "X"});
    Fixture::entry(second, 9, "leave", "A");
    CHECK(w.set == std::set<std::string>{"C", "X"});
    std::vector<std::string> expected{"+A", "+B", "+X"};
    expected.insert(expected.end(), told.begin(), told.end());
    expected.push_back("-A");
    CHECK(w.events == expected);
}

TEST_CASE("a gap in the stream is healed by a new snapshot") {
    Fixture f;
    Watcher w;
    f.core->subscribe("c", w.onMessage(), w.options(), nullptr);
    FakeTransport& t = f.connect(0);
    Fixture::answer(t, {"A", "B"}, 0);
    const std::string firstQuery = Fixture::presenceQueryId(t);
    // Entries 1-4 evicted before they were read: B left, C joined in there.
    t.listener().transportGap(t.gen(), protocol::Gap{"c", 1, 4, protocol::GapReason::HistoryEvicted, ""});
    REQUIRE(w.gaps.size() == 1);
    CHECK(Fixture::presenceQueryId(t) != firstQuery);  // asked again
    Fixture::entry(t, 5, "join", "D");                 // waits for the snapshot
    Fixture::answer(t, {"A", "C"}, 4);
    CHECK(w.set == std::set<std::string>{"A", "C", "D"});
    CHECK(w.events == std::vector<std::string>{"+A", "+B", "-B", "+C", "+D"});
    SECTION("a hole the server did not announce too") {
        Fixture::entry(t, 8, "leave", "A");  // 6 and 7 never came
        CHECK(w.gaps.size() == 2);
        CHECK(w.events.back() == "+D");  // the leave waits
        Fixture::answer(t, {"C", "D", "E"}, 8);
        CHECK(w.set == std::set<std::string>{"C", "D", "E"});
    }
    SECTION("a new life of the channel's stream") {
        t.listener().transportGap(t.gen(),
                                  protocol::Gap{"c", 6, std::nullopt, protocol::GapReason::EpochChanged, "e2"});
        // A snapshot of the old life is not taken.
        auto old = protocol::decodePresenceAnswer(snapshot({"Z"}, "e1~c@9"));
        t.listener().transportPresence(t.gen(), Fixture::presenceQueryId(t), *old);
        CHECK_FALSE(w.set.count("Z"));
        f.platform.advance(1000);  // asked again
        auto fresh = protocol::decodePresenceAnswer(snapshot({"A"}, "e2~c@1"));
        t.listener().transportPresence(t.gen(), Fixture::presenceQueryId(t), *fresh);
        CHECK(w.set == std::set<std::string>{"A"});
    }
}

TEST_CASE("repeated entries and repeated members are told once") {
    Fixture f;
    Watcher w;
    f.core->subscribe("c", w.onMessage(), w.options(), nullptr);
    FakeTransport& t = f.connect(0);
    Fixture::answer(t, {"A"}, 0);
    Fixture::entry(t, 1, "join", "B");
    Fixture::entry(t, 1, "join", "B");   // the same entry again (a transport redelivers)
    Fixture::entry(t, 2, "join", "A");   // a join of a member already in the set
    Fixture::entry(t, 3, "leave", "Q");  // a leave of one never seen
    Fixture::entry(t, 4, "leave", "B");
    Fixture::entry(t, 4, "leave", "B");
    CHECK(w.events == std::vector<std::string>{"+A", "+B", "-B"});
    // The same snapshot twice (a reconnect): nothing new to tell.
    FakeTransport& again = f.cut();
    Fixture::answer(again, {"A"}, 4);
    CHECK(w.events == std::vector<std::string>{"+A", "+B", "-B"});
}

TEST_CASE("a subscription that starts watching later is told every member, the others nothing again") {
    Fixture f;
    Watcher first, second;
    f.core->subscribe("c", first.onMessage(), first.options(), nullptr);
    FakeTransport& t = f.connect(0);
    Fixture::answer(t, {"A", "B"}, 0);
    f.core->subscribe("c", second.onMessage(), second.options(), nullptr);
    Fixture::answer(t, {"A", "B"}, 0);
    CHECK(first.events == std::vector<std::string>{"+A", "+B"});
    CHECK(second.events == std::vector<std::string>{"+A", "+B"});
    Fixture::entry(t, 1, "leave", "A");
    CHECK(first.events.back() == "-A");
    CHECK(second.events.back() == "-A");
}

TEST_CASE("over polling the snapshot is GET /pushwire/presence, and the set is exact as well") {
    Fixture f(Transport::Poll);
    Watcher w;
    f.core->subscribe("c", w.onMessage(), w.options(), nullptr);
    FakeTransport& t = f.connect(2);
    auto asked = f.platform.open("/pushwire/presence");
    REQUIRE(asked.size() == 1);
    CHECK(asked[0]->url == "http://h:1/pushwire/presence?channel=c");
    Fixture::entry(t, 3, "join", "B");
    REQUIRE(f.platform.respond("/pushwire/presence", 200, snapshot({"A", "B"}, "e1~c@3")));
    CHECK(w.events == std::vector<std::string>{"+A", "+B"});
    SECTION("a snapshot that fails is asked again later, entries waiting meanwhile") {
        FakeTransport& again = f.cut();
        REQUIRE(f.platform.respond("/pushwire/presence", 0, ""));
        Fixture::entry(again, 4, "leave", "A");
        CHECK(w.events.size() == 2);
        f.platform.advance(600);
        REQUIRE(f.platform.respond("/pushwire/presence", 200, snapshot({"B"}, "e1~c@4")));
        CHECK(w.events == std::vector<std::string>{"+A", "+B", "-A"});
    }
    SECTION("a channel without presence: entries apply as they come") {
        Watcher v;
        Fixture g(Transport::Poll);
        g.core->subscribe("c", v.onMessage(), v.options(), nullptr);
        FakeTransport& u = g.connect(0);
        REQUIRE(g.platform.respond("/pushwire/presence", 404,
                                   R"({"error":{"code":"not_found","message":"no presence on c"}})"));
        Fixture::entry(u, 1, "join", "B");
        CHECK(v.events == std::vector<std::string>{"+B"});
    }
}

TEST_CASE("presence() and presenceStats() ask in-band on a WebSocket, by HTTP otherwise") {
    Fixture f;
    const int sub = f.core->subscribe(
        "c", [](const Message&) {}, {}, nullptr);
    FakeTransport& t = f.connect(0);
    std::vector<std::string> clients;
    std::optional<std::uint64_t> users;
    Error failed;
    auto onMembers = [&](const protocol::PresenceAnswer* a, const Error* e) {
        if (e) failed = *e;
        if (a) {
            for (const auto& m : a->members) clients.push_back(m.client);
            if (a->stats) users = a->users;
        }
    };
    f.core->presence(sub, false, onMembers);
    const std::string id = Fixture::presenceQueryId(t);
    REQUIRE_FALSE(id.empty());
    t.listener().transportPresence(t.gen(), id, *protocol::decodePresenceAnswer(snapshot({"A", "B"}, "e1~c@0")));
    CHECK(clients == std::vector<std::string>{"A", "B"});
    f.core->presence(sub, true, onMembers);
    const std::string statsId = Fixture::presenceQueryId(t, "presence_stats");
    t.listener().transportPresence(t.gen(), statsId, *protocol::decodePresenceAnswer(R"({"clients":3,"users":2})"));
    CHECK(users == 2u);
    SECTION("a refusal in-band fails the query, the subscription goes on") {
        f.core->presence(sub, false, onMembers);
        t.listener().transportRequestError(t.gen(), Fixture::presenceQueryId(t), {protocol::ErrorCode::Forbidden, "no"},
                                           "c");
        CHECK(failed.code == "forbidden");
        CHECK_FALSE(f.core->position(sub).empty());
    }
    SECTION("a query in flight when the WebSocket drops is asked again by HTTP") {
        clients.clear();
        f.core->presence(sub, false, onMembers);
        t.listener().transportClosed(t.gen(), {protocol::ErrorCode::Internal, "cut"});
        REQUIRE(f.platform.respond("/pushwire/presence?channel=c", 200, snapshot({"C"}, "e1~c@0")));
        CHECK(clients == std::vector<std::string>{"C"});
    }
    SECTION("stats by HTTP, and the server's error as the error") {
        Fixture g(Transport::Poll);
        const int s = g.core->subscribe(
            "c", [](const Message&) {}, {}, nullptr);
        g.connect(0);
        g.core->presence(s, true, onMembers);
        users.reset();
        REQUIRE(g.platform.respond("/pushwire/presence?channel=c&stats=1", 200, R"({"clients":5,"users":4})"));
        CHECK(users == 4u);
        g.core->presence(s, false, onMembers);
        REQUIRE(
            g.platform.respond("/pushwire/presence", 403, R"({"error":{"code":"forbidden","message":"not yours"}})"));
        CHECK(failed.code == "forbidden");
        CHECK(failed.message == "not yours");
    }
    SECTION("after unsubscribe or close, the query fails at once") {
        f.core->unsubscribe(sub);
        f.core->presence(sub, false, onMembers);
        CHECK(failed.code == "unsubscribed");
    }
}

TEST_CASE("client id comes from the server and the session stays the same across reconnects") {
    Fixture f;
    CHECK(f.core->clientId().empty());
    FakeTransport& t = f.connect(0);
    const std::string session = t.config().session;
    const int firstGeneration = t.gen();
    CHECK(session.size() == 32);
    t.listener().transportClientId(t.gen(), "0123456789abcdef0123456789abcdef");
    CHECK(f.core->clientId() == "0123456789abcdef0123456789abcdef");
    FakeTransport& again = f.cut();  // (the first transport is gone)
    CHECK(again.config().session == session);
    again.listener().transportClientId(firstGeneration, "ffffffffffffffffffffffffffffffff");  // a stale report
    CHECK(f.core->clientId() == "0123456789abcdef0123456789abcdef");
}
