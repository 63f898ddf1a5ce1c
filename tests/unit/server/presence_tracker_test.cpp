// The PresenceTracker (transports/presence_tracker.hpp) against a fake store: when a
// connection's subscriptions become store joins and leaves, and that a store that fails
// is asked again until it agrees with the clients.
#include "transports/presence_tracker.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <thread>

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
    void snapshot(const std::string&, std::size_t, SnapshotDone done) override { done(PresenceSnapshot{}); }
    void counts(const std::string&, CountsDone done) override { done(PresenceCounts{}); }
};

struct Rig {
    asio::io_context io;
    FakeStore store;
    PresenceTracker tracker{io, store, PresenceSettings{}};
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
