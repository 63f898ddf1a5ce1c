// Presence in this process's memory, beside the MemoryBroker whose streams get the
// join/leave entries (appended synchronously with the change: one thread, so atomic).
// Answers at once.
//
// Memory: per member, one map entry (a view of its client id and a pointer); the record
// (client id, user, info: at most 1 KiB) once per client, shared by all its channels; one
// entry per distinct user. The tracker holds a channel's members on this node to
// --max-presence-members; the limit also bounds what a snapshot lists.
//
// Threading: the loop thread.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "broker/memory_broker.hpp"
#include "broker/presence.hpp"

namespace pushwire::server {

class MemoryPresence final : public Presence {
public:
    // `clock`: ms since the Unix epoch, for the entries' time.
    MemoryPresence(MemoryBroker& broker, std::function<std::int64_t()> clock);

    void join(const std::string& channel, const Member& member, bool announce, ChangeDone done) override;
    void leave(const std::string& channel, const std::string& client, bool announce, ChangeDone done) override;
    void snapshot(const std::string& channel, std::size_t maxMembers, SnapshotDone done) override;
    void counts(const std::string& channel, CountsDone done) override;

    // Members held, over every channel.
    std::size_t memberCount() const { return members_; }

private:
    struct Channel {
        std::map<std::string_view, std::shared_ptr<const Member>> members;  // by client id (the record's)
        std::map<std::string, std::uint64_t, std::less<>> users;            // non-empty user -> its members
    };
    PresenceCounts countsOf(const Channel& channel) const;
    std::shared_ptr<const Member> recordOf(const Member& member);

    MemoryBroker& broker_;
    std::function<std::int64_t()> clock_;
    std::map<std::string, Channel, std::less<>> channels_;
    std::size_t members_ = 0;
    std::map<std::string, std::weak_ptr<const Member>, std::less<>> records_;  // by client id
};

}  // namespace pushwire::server
