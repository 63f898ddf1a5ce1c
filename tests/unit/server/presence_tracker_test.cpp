// The PresenceTracker (transports/presence_tracker.hpp) against a fake store: when a
// connection's subscriptions become store joins and leaves, and that a store that fails
// is asked again until it agrees with the clients.
#include "transports/presence_tracker.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <set>
#include <thread>

namespace presence_tracker_test {

using namespace pushwire::server;
using namespace std::chrono_literals;
using pushwire::protocol::Error;
using pushwire::protocol::ErrorCode;
using pushwire::protocol::Result;

namespace {

struct FakeStore final : Presence {
    std::vector<std::string> calls;  // "join c x" / "leave c x"
    int failures = 0;                // the next calls that fail (broker unavailable)
    void answer(const std::string& call, const ChangeDone& done) {
        calls.push_back(call);
        if (failures > 0) {
            --failures;
            done(Error{ErrorCode::BrokerUnavailable, "down"});
            return;
        }
        done(MessagePtr());
    }
    void join(const std::string& channel, const Member& member, bool, ChangeDone done) override {
        answer("join " + channel + " " + member.client, done);
    }
    void leave(const std::string& channel, const std::string& client, bool, ChangeDone done) override {
        answer("leave " + channel + " " + client, done);
    }
    // Batches as the tracker makes them; answered at once, or held in `later` when `hold`.
    std::vector<std::size_t> batches;
    bool hold = false;
    std::vector<std::function<void()>> later;
    void apply(std::vector<Change> changes, BatchDone done) override {
        batches.push_back(changes.size());
        if (!hold) {
            Presence::apply(std::move(changes), std::move(done));
            return;
        }
        later.push_back([this, changes = std::move(changes), done = std::move(done)]() mutable {
            Presence::apply(std::move(changes), std::move(done));
        });
    }
    void snapshot(const std::string&, std::size_t, SnapshotDone done) override { done(PresenceSnapshot{}); }
    void counts(const std::string&, CountsDone done) override { done(PresenceCounts{}); }
};

struct Rig {
    asio::io_context io;
    FakeStore store;
    PresenceTracker tracker{io, store, settings()};
    static PresenceSettings settings() {
        PresenceSettings out;
        out.gather = std::chrono::milliseconds(0);  // "the next turn", as the cases say
        return out;
    }
    bool runUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout = 5s) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!done()) {
            if (std::chrono::steady_clock::now() > deadline) return false;
            io.restart();
            io.run_for(5ms);
        }
        return true;
    }
    void turn() {
        io.restart();
        io.poll();
    }
};

Member member(const std::string& client) { return Member{client, "", "null"}; }

}  // namespace

TEST_CASE("presence tracker: a hold joins on the next turn, a release leaves, and both in one turn say nothing") {
    Rig rig;
    rig.tracker.hold("room", member("a"));
    CHECK(rig.store.calls.empty());  // never during the hold: a feed may be in a fan-out
    rig.turn();
    CHECK(rig.store.calls == std::vector<std::string>{"join room a"});
    rig.tracker.release("room", "a", 0ms);
    rig.turn();
    CHECK(rig.store.calls.back() == "leave room a");
    CHECK(rig.tracker.memberCount() == 0);
    rig.store.calls.clear();
    rig.tracker.hold("room", member("b"));
    rig.tracker.release("room", "b", 0ms);
    rig.turn();
    CHECK(rig.store.calls.empty());
}

TEST_CASE("presence tracker: held again within the linger, or by a second connection, is no leave") {
    Rig rig;
    rig.tracker.hold("room", member("a"));
    rig.tracker.hold("room", member("a"));  // a second connection of the same client
    rig.turn();
    rig.tracker.release("room", "a", 0ms);
    rig.turn();
    CHECK(rig.store.calls == std::vector<std::string>{"join room a"});
    rig.tracker.release("room", "a", 200ms);
    rig.tracker.hold("room", member("a"));  // back within the grace
    std::this_thread::sleep_for(300ms);
    rig.turn();
    CHECK(rig.store.calls == std::vector<std::string>{"join room a"});
    rig.tracker.release("room", "a", 100ms);
    REQUIRE(rig.runUntil([&] { return rig.store.calls.size() == 2; }));
    CHECK(rig.store.calls.back() == "leave room a");
}

TEST_CASE("presence tracker: --max-presence-members caps a channel's members, past it a client is no member") {
    asio::io_context io;
    FakeStore store;
    PresenceSettings settings = Rig::settings();
    settings.maxMembers = 2;
    PresenceTracker tracker{io, store, settings};
    auto turn = [&] {
        io.restart();
        io.poll();
    };
    CHECK(tracker.hold("room", member("a")));
    CHECK(tracker.hold("room", member("b")));
    CHECK(tracker.hold("room", member("a")));  // a member already: a second connection of it
    CHECK_FALSE(tracker.hold("room", member("c")));
    CHECK(tracker.hold("other", member("c")));  // each channel its own cap
    CHECK(tracker.overCap() == 1);
    turn();
    CHECK(std::set<std::string>(store.calls.begin(), store.calls.end()) ==
          std::set<std::string>{"join room a", "join room b", "join other c"});
    tracker.release("room", "c", 0ms);  // no member: nothing to leave
    tracker.release("room", "b", 0ms);
    turn();
    CHECK(store.calls.back() == "leave room b");
    CHECK(tracker.hold("room", member("d")));  // room again
    CHECK(tracker.memberCount() == 3);
}

TEST_CASE("presence tracker: a join or leave the store failed is asked again until it goes through") {
    Rig rig;
    rig.store.failures = 2;
    rig.tracker.hold("room", member("a"));
    REQUIRE(rig.runUntil([&] { return rig.store.calls.size() == 3; }));
    CHECK(rig.store.calls == std::vector<std::string>(3, "join room a"));
    CHECK(rig.tracker.failures() == 2);
    rig.store.failures = 1;
    rig.tracker.release("room", "a", 0ms);
    REQUIRE(rig.runUntil([&] { return rig.tracker.memberCount() == 0; }));
    CHECK(rig.store.calls ==
          std::vector<std::string>{"join room a", "join room a", "join room a", "leave room a", "leave room a"});
}

TEST_CASE("presence tracker: a burst goes in bounded batches, a bounded number unanswered, none lost or out of order") {
    Rig rig;
    rig.store.hold = true;
    for (int i = 0; i < 1000; ++i) rig.tracker.hold("room:" + std::to_string(i % 7), member(std::to_string(i)));
    rig.io.restart();
    rig.io.poll_one();  // one handler does a bounded part: the loop serves others between
    std::size_t first = 0;
    for (std::size_t size : rig.store.batches) first += size;
    CHECK(first > 0);
    CHECK(first <= 128);
    for (int turn = 0; turn < 10; ++turn) rig.turn();
    CHECK(rig.store.batches.size() <= 4);  // unanswered: no more are sent
    // Answered one by one: the rest follow, every batch bounded, every member joined once.
    for (int round = 0; round < 100 && !rig.store.later.empty(); ++round) {
        auto pending = std::move(rig.store.later);
        rig.store.later.clear();
        for (auto& answer : pending) answer();
        for (int turn = 0; turn < 3; ++turn) rig.turn();
    }
    CHECK(rig.store.later.empty());
    std::size_t total = 0;
    for (std::size_t size : rig.store.batches) {
        CHECK(size <= 128);
        total += size;
    }
    CHECK(total == 1000);
    CHECK(rig.store.batches.size() < 20);
    CHECK(rig.store.calls.size() == 1000);
    std::set<std::string> calls(rig.store.calls.begin(), rig.store.calls.end());
    CHECK(calls.size() == 1000);  // none twice
    // A member released and held again while its join is unanswered ends joined, in order.
    rig.store.calls.clear();
    rig.store.hold = true;
    rig.tracker.release("room:0", "0", 0ms);
    rig.turn();
    rig.tracker.hold("room:0", member("0"));
    rig.turn();
    REQUIRE(rig.store.later.size() == 1);
    rig.store.hold = false;
    auto pending = std::move(rig.store.later);
    rig.store.later.clear();
    for (auto& answer : pending) answer();
    REQUIRE(rig.runUntil([&] { return rig.store.calls.size() == 2; }));
    CHECK(rig.store.calls == std::vector<std::string>{"leave room:0 0", "join room:0 0"});
}

}  // namespace presence_tracker_test
