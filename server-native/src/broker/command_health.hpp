// Whether a Redis that is connected still does its work: the outcome of its recent
// commands, for /pushwire/healthz and the metrics. A part whose connection is up but whose
// every command is refused (NOPERM after an ACL change, OOM under `maxmemory` with
// `noeviction`, MISCONF after a failed save, MOVED in a loop, BUSY, LOADING) is "failing",
// reported as a part that is down is.
//
// The rule (docs/scaling.md, "Health"): commands are of two kinds, those that write (a
// publish, presence's updates) and those that only read (history, the head checks, the
// channel list), because a Redis out of memory refuses the first and serves the second.
// A kind is failing once kFailingAfter replies of it in a row were Redis errors, and stops
// failing at its first success (the commands are still sent: that is how recovery is
// seen), or kFailingHold after its last error when none came since (no traffic: nothing
// known to fail). One error, or errors among successes, never makes a part fail.
//
// Only Redis's error replies count: not a command left unanswered (the connection is then
// lost or the part reported down by its own watch), nor what the caller got wrong (a bad
// cursor: the caller's 400). A Redis Cluster's MOVED says the node's slot map is stale, not
// that the master fails: MOVED answers in a row are forgotten as soon as the map changes
// (forgetMoved(); the owner then sends no more commands of that slot here), and count only
// while it does not (a loop the map's re-reads do not end).
//
// The error kept is the first line of Redis's reply, at most kMaxErrorBytes, cut before
// an argument Redis quotes back ("unknown command ..., with args beginning with: ..."):
// never a payload byte, and Redis never quotes a password.
//
// Threading: the loop thread. A success costs a store; an error a clock read and a copy.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace pushwire::server {

class CommandHealth {
public:
    enum class Kind { Read, Write };
    using Clock = std::chrono::steady_clock;

    static constexpr std::uint32_t kFailingAfter = 3;
    static constexpr std::chrono::seconds kFailingHold{10};
    static constexpr std::size_t kMaxErrorBytes = 200;

    void succeeded(Kind kind) { kinds_[index(kind)].streak = 0; }
    void failed(Kind kind, std::string_view error, Clock::time_point now = Clock::now());
    // A new connection: what the old one saw says nothing about it.
    void reset();
    // The slot map changed: a kind whose errors in a row were all MOVED is not failing.
    void forgetMoved();

    bool failing(Clock::time_point now = Clock::now()) const;
    // "failing: ..." with the kind, how many in a row and the last error; "" when not failing.
    std::string state(Clock::time_point now = Clock::now()) const;
    // Error replies counted since the start (the metrics' counter).
    std::uint64_t errorReplies() const { return errorReplies_; }

    // The part of a Redis error reply that may be shown.
    static std::string shown(std::string_view error);

private:
    struct PerKind {
        std::uint32_t streak = 0;  // error replies in a row
        bool movedOnly = false;    // and every one of them was MOVED
        Clock::time_point lastErrorAt{};
        std::string lastError;
    };
    static std::size_t index(Kind kind) { return kind == Kind::Write ? 1 : 0; }
    bool failing(const PerKind& kind, Clock::time_point now) const;

    std::array<PerKind, 2> kinds_{};
    std::uint64_t errorReplies_ = 0;
};

}  // namespace pushwire::server
