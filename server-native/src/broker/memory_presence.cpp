#include "broker/memory_presence.hpp"

namespace pushwire::server {

MemoryPresence::MemoryPresence(MemoryBroker& broker, std::function<std::int64_t()> clock)
    : broker_(broker), clock_(std::move(clock)) {}

PresenceCounts MemoryPresence::countsOf(const Channel& channel) const {
    return PresenceCounts{channel.members.size(), channel.users.size()};
}

void MemoryPresence::join(const std::string& name, const Member& member, bool announce, ChangeDone done) {
    Channel& channel = channels_[name];
    auto [it, added] = channel.members.try_emplace(member.client, member);
    if (!added) {
        done(MessagePtr());
        return;
    }
    ++members_;
    if (!member.user.empty()) ++channel.users[member.user];
    if (!announce) {
        done(MessagePtr());
        return;
    }
    broker_.appendEntry(name, protocol::EntryEvent::Join, protocol::encodeMember(member), clock_(), std::move(done));
}

void MemoryPresence::leave(const std::string& name, const std::string& client, bool announce, ChangeDone done) {
    auto channel = channels_.find(name);
    if (channel == channels_.end()) {
        done(MessagePtr());
        return;
    }
    auto it = channel->second.members.find(client);
    if (it == channel->second.members.end()) {
        done(MessagePtr());
        return;
    }
    const Member member = std::move(it->second);
    channel->second.members.erase(it);
    --members_;
    if (!member.user.empty()) {
        auto user = channel->second.users.find(member.user);
        if (user != channel->second.users.end() && --user->second == 0) channel->second.users.erase(user);
    }
    if (channel->second.members.empty()) channels_.erase(channel);
    if (!announce) {
        done(MessagePtr());
        return;
    }
    broker_.appendEntry(name, protocol::EntryEvent::Leave, protocol::encodeMember(member), clock_(), std::move(done));
}

void MemoryPresence::snapshot(const std::string& name, std::size_t maxMembers, SnapshotDone done) {
    PresenceSnapshot out;
    out.position = broker_.head(name);
    auto channel = channels_.find(name);
    if (channel != channels_.end()) {
        out.counts = countsOf(channel->second);
        out.members.reserve(std::min(maxMembers, channel->second.members.size()));
        for (const auto& [client, member] : channel->second.members) {
            if (out.members.size() >= maxMembers) {
                out.truncated = true;
                break;
            }
            out.members.push_back(protocol::encodeMember(member));
        }
    }
    done(std::move(out));
}

void MemoryPresence::counts(const std::string& name, CountsDone done) {
    auto channel = channels_.find(name);
    done(channel == channels_.end() ? PresenceCounts{} : countsOf(channel->second));
}

}  // namespace pushwire::server
