#include "broker/memory_presence.hpp"

namespace pushwire::server {

MemoryPresence::MemoryPresence(MemoryBroker& broker, std::function<std::int64_t()> clock)
    : broker_(broker), clock_(std::move(clock)) {}

PresenceCounts MemoryPresence::countsOf(const Channel& channel) const {
    return PresenceCounts{channel.members.size(), channel.users.size()};
}

// One record per client, shared by its channels (another user or info: its own).
std::shared_ptr<const Member> MemoryPresence::recordOf(const Member& member) {
    auto [it, added] = records_.try_emplace(member.client);
    if (!added) {
        if (auto shared = it->second.lock();
            shared && shared->user == member.user && shared->infoJson == member.infoJson) {
            return shared;
        }
    }
    auto record = std::make_shared<const Member>(member);
    it->second = record;
    return record;
}

void MemoryPresence::join(const std::string& name, const Member& member, bool announce, ChangeDone done) {
    Channel& channel = channels_[name];
    if (channel.members.count(member.client) > 0) {
        done(MessagePtr());
        return;
    }
    std::shared_ptr<const Member> record = recordOf(member);
    channel.members.emplace(std::string_view(record->client), std::move(record));
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
    const std::shared_ptr<const Member> record = std::move(it->second);
    const Member& member = *record;
    channel->second.members.erase(it);
    --members_;
    if (!member.user.empty()) {
        auto user = channel->second.users.find(member.user);
        if (user != channel->second.users.end() && --user->second == 0) channel->second.users.erase(user);
    }
    if (channel->second.members.empty()) channels_.erase(channel);
    std::string memberJson = announce ? protocol::encodeMember(member) : std::string();
    if (record.use_count() == 1) {  // its last channel: forget the client
        auto known = records_.find(member.client);
        if (known != records_.end() && known->second.lock() == record) records_.erase(known);
    }
    if (!announce) {
        done(MessagePtr());
        return;
    }
    broker_.appendEntry(name, protocol::EntryEvent::Leave, std::move(memberJson), clock_(), std::move(done));
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
            out.members.push_back(protocol::encodeMember(*member));
        }
    }
    done(std::move(out));
}

void MemoryPresence::counts(const std::string& name, CountsDone done) {
    auto channel = channels_.find(name);
    done(channel == channels_.end() ? PresenceCounts{} : countsOf(channel->second));
}

}  // namespace pushwire::server
