// Presence in this process's memory, beside the MemoryBroker whose streams get the
// join/leave entries (appended synchronously with the change: one thread, so atomic).
// Answers at once.
//
// Memory: one entry per member (its client id, user and info, at most 1 KiB) and one per
// distinct user; all members are kept whatever --max-presence-members says (they must be
// to know who leaves), the limit bounds what a snapshot lists.
//
// Threading: the loop thread.
#pragma once

#include <map>
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
        std::map<std::string, Member, std::less<>> members;       // by client id
        std::map<std::string, std::uint64_t, std::less<>> users;  // non-empty user -> its members
    };
    PresenceCounts countsOf(const Channel& channel) const;

    MemoryBroker& broker_;
    std::function<std::int64_t()> clock_;
    std::map<std::string, Channel, std::less<>> channels_;
    std::size_t members_ = 0;
};

}  // namespace pushwire::server
