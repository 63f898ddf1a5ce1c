// The presence seam: who is subscribed to a presence channel, across every node that
// shares the broker (docs/protocol.md, Presence).
//
// A member is one subscription of one connection ({client, user, info}). The store keeps
// the members of each channel, counts them (clients) and their distinct non-empty users,
// and, when asked to announce a change, appends the join or leave entry to the channel's
// stream IN THE SAME ATOMIC STEP as the change: so the entries are ordered with the
// channel's messages, and a snapshot read with its stream position says exactly which
// entries it includes (those at or below the position).
//
// Who calls: the PresenceTracker (transports/presence_tracker.hpp) decides when a
// connection joins and leaves (grace, linger); the presence endpoint, the WebSocket
// presence frames and the server API read snapshots and counts. The store does not know
// connections, timers or transports.
//
// Implementations: MemoryPresence (one process, with MemoryBroker), RedisPresence (every
// node of one Redis, with RedisBroker; members of a node that stops refreshing vanish
// with their leave entries: see redis_presence.hpp).
//
// Threading: the loop thread; every callback there too. Like Broker: a `done` runs
// exactly once, perhaps before the call returns, also when the store is unavailable or
// destroyed (then with broker_unavailable).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "broker/broker.hpp"
#include "pushwire/protocol/presence.hpp"
#include "pushwire/protocol/result.hpp"

namespace pushwire::server {

using protocol::Member;

struct PresenceCounts {
    std::uint64_t clients = 0;  // members
    std::uint64_t users = 0;    // distinct non-empty users among them
};

struct PresenceSnapshot {
    std::vector<std::string> members;  // each member's JSON (protocol::encodeMember); at most the limit
    bool truncated = false;            // there are more than `members`
    PresenceCounts counts;             // exact, whatever the limit
    StreamHead position;               // the channel's stream when the set was read
};

class Presence {
public:
    virtual ~Presence() = default;

    // The entry appended (null when nothing was: `announce` false, or no change), or the
    // error (then nothing changed, or, for publish_outcome_unknown, perhaps it did).
    using ChangeDone = std::function<void(protocol::Result<MessagePtr>)>;
    // Adds `member` to `channel`. A client already a member stays as it is and nothing is
    // announced. `announce`: append the join entry with the change.
    virtual void join(const std::string& channel, const Member& member, bool announce, ChangeDone done) = 0;
    // Removes `client` from `channel`; nothing happens (nor is announced) when it is no
    // member. `announce`: append the leave entry with the change.
    virtual void leave(const std::string& channel, const std::string& client, bool announce, ChangeDone done) = 0;

    // Several changes, in order, each as join() / leave() would make it (`member.client`
    // alone matters for a leave); `done` gets one result per change, in their order. A
    // store may make them in one step (RedisPresence: one script, one round trip); this
    // default makes them one by one.
    struct Change {
        std::string channel;
        bool join = true;
        bool announce = false;
        Member member;
    };
    using BatchDone = std::function<void(std::vector<protocol::Result<MessagePtr>>)>;
    virtual void apply(std::vector<Change> changes, BatchDone done) {
        auto results = std::make_shared<std::vector<protocol::Result<MessagePtr>>>(changes.size(), MessagePtr());
        auto waiting = std::make_shared<std::size_t>(changes.size() + 1);
        auto finish = [results, waiting, done = std::move(done)] {
            if (--*waiting == 0) done(std::move(*results));
        };
        for (std::size_t i = 0; i < changes.size(); ++i) {
            auto settled = [results, i, finish](protocol::Result<MessagePtr> result) {
                (*results)[i] = std::move(result);
                finish();
            };
            const Change& change = changes[i];
            if (change.join) {
                join(change.channel, change.member, change.announce, std::move(settled));
            } else {
                leave(change.channel, change.member.client, change.announce, std::move(settled));
            }
        }
        finish();
    }

    using SnapshotDone = std::function<void(protocol::Result<PresenceSnapshot>)>;
    // The members (at most `maxMembers`) and counts, and the stream position they were
    // read at, in one atomic read.
    virtual void snapshot(const std::string& channel, std::size_t maxMembers, SnapshotDone done) = 0;
    using CountsDone = std::function<void(protocol::Result<PresenceCounts>)>;
    virtual void counts(const std::string& channel, CountsDone done) = 0;
};

}  // namespace pushwire::server
