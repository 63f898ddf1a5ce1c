// When this node's connections join and leave presence channels (docs/protocol.md,
// Presence). Feeds report each subscription they hold and release; the tracker turns
// that into Presence::join / leave calls on the store, with the grace and linger the
// protocol promises:
//   - a subscription released by unsubscribing leaves at once;
//   - one released because its WebSocket or SSE connection ended leaves after the grace
//     (--presence-grace-ms), unless the same client (same session) holds the channel
//     again meanwhile: then nothing is announced;
//   - a poller's membership lasts `pollLinger` after its last request.
// A client holding a channel through several connections (two tabs sharing a session, a
// reconnect that overlaps the old connection) is one member, leaving when the last lets go.
//
// Changes reach the store on the loop's next turn, never during hold() or release():
// those are called while a feed subscribes or stops (perhaps within a fan-out, which must
// not publish), and a hold and release within one turn cancel out without an entry.
// They go in batches (one store call each: one Redis script, whatever the channels),
// with a bounded amount of work per loop turn and of calls in flight, so a flood of
// joins and leaves neither delays other clients' deliveries nor swamps the store.
//
// Memory: a membership costs its key (channel, client), its entry here and a pointer to
// the member record; the record (client, user, info: the info up to 1 KiB) is kept once
// per client and shared by all its channels. --max-presence-members N caps the members
// of a channel on this node: a connection subscribing past N is subscribed (it gets the
// messages) but is no member (not listed, not counted, no join or leave), nor becomes one
// when a member leaves; it counts in `overCap()`.
//
// Threading: the loop thread. Lifetime: owned by the server, outlives every Feed.
#pragma once

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "auth/channel_patterns.hpp"
#include "broker/presence.hpp"

namespace pushwire::server {

struct PresenceSettings {
    ChannelPatterns presence;   // --presence
    ChannelPatterns joinLeave;  // --join-leave (only those that are presence channels too)
    std::chrono::milliseconds grace{5000};
    std::chrono::milliseconds pollLinger{30000};
    std::size_t maxMembers = 1000;
    // The first change after a quiet spell waits this long for others, so a burst of
    // connections joining or closing over many turns goes in one batch (0: next turn).
    std::chrono::milliseconds gather{5};
};

class PresenceTracker {
public:
    using Clock = std::chrono::steady_clock;

    PresenceTracker(asio::io_context& io, Presence& store, PresenceSettings settings);
    ~PresenceTracker();
    PresenceTracker(const PresenceTracker&) = delete;
    PresenceTracker& operator=(const PresenceTracker&) = delete;

    bool tracks(std::string_view channel) const { return settings_.presence.matches(channel); }
    bool announces(std::string_view channel) const {
        return settings_.joinLeave.matches(channel) && settings_.presence.matches(channel);
    }
    const PresenceSettings& settings() const { return settings_; }
    Presence& store() { return store_; }

    // A connection of `member.client` subscribes `channel` (a presence channel). False:
    // the channel has its --max-presence-members already, the client is no member.
    bool hold(const std::string& channel, const Member& member);
    // It lets go; the membership ends after `linger` (0: now) unless held again.
    void release(const std::string& channel, const std::string& client, std::chrono::milliseconds linger);

    // Tells the store again of every membership held (the store lost them: this node
    // was taken for dead). The store ignores members it has.
    void rejoinAll();

    // Memberships of this node's clients (the store's members on this node).
    std::size_t memberCount() const { return held_.size(); }
    // Join and leave entries this node appended.
    std::uint64_t joinsAnnounced() const { return joins_; }
    std::uint64_t leavesAnnounced() const { return leaves_; }
    // Store calls that failed (broker unavailable); each is tried again a second later
    // until the store agrees with this node's clients.
    std::uint64_t failures() const { return failures_; }
    // Store calls made (each a batch of one channel's changes).
    std::uint64_t batches() const { return batches_; }
    // Subscriptions that were no members: the channel had --max-presence-members already.
    std::uint64_t overCap() const { return overCap_; }

private:
    using Key = std::pair<std::string, std::string>;  // channel, client
    struct Held {
        std::shared_ptr<const Member> member;  // shared by the client's memberships
        int holders = 0;
        std::optional<Clock::time_point> leaveAt;
        bool wanted = true;   // still a member as far as this node's clients go
        bool joined = false;  // the store has it (as far as this node knows)
        bool busy = false;    // a store call for it is in flight
    };
    void schedule();
    void expire();
    void changed(const Key& key);
    void postFlush(bool gather);
    void flush();
    void settle(const Key& key, bool joining, const protocol::Result<MessagePtr>& result);
    void retryLater(const Key& key);
    std::shared_ptr<const Member> recordOf(const Member& member);
    void erase(std::map<Key, Held>::iterator it);

    static constexpr std::size_t kBatch = 128;           // changes per store call
    static constexpr std::size_t kPerTurn = 128;         // memberships looked at per loop turn
    static constexpr std::size_t kInFlight = 4;          // store calls unanswered at once
    static constexpr std::size_t kExpirePerTurn = 1024;  // deadlines handled per loop turn

    asio::io_context& io_;
    Presence& store_;
    PresenceSettings settings_;
    std::map<Key, Held> held_;
    std::map<std::string, std::size_t, std::less<>> perChannel_;               // entries of held_ by channel
    std::map<std::string, std::weak_ptr<const Member>, std::less<>> records_;  // by client
    std::set<std::pair<Clock::time_point, Key>> deadlines_;
    asio::steady_timer timer_;
    std::optional<Clock::time_point> armedFor_;
    std::set<Key> dirty_;         // to tell the store on the next turn
    std::deque<Key> dirtyOrder_;  // the same, in the order they changed: entries keep that order
    bool flushPosted_ = false;
    asio::steady_timer flushTimer_;
    std::size_t inFlight_ = 0;
    std::uint64_t batches_ = 0;
    std::set<Key> retry_;  // store calls that failed: tried again a second later
    asio::steady_timer retryTimer_;
    bool retryArmed_ = false;
    std::uint64_t joins_ = 0;
    std::uint64_t leaves_ = 0;
    std::uint64_t failures_ = 0;
    std::uint64_t overCap_ = 0;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace pushwire::server
