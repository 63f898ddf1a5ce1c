#include "transports/presence_tracker.hpp"

#include <asio/post.hpp>

namespace pushwire::server {

PresenceTracker::PresenceTracker(asio::io_context& io, Presence& store, PresenceSettings settings)
    : io_(io), store_(store), settings_(std::move(settings)), timer_(io) {}

PresenceTracker::~PresenceTracker() {
    *alive_ = false;
    timer_.cancel();
}

void PresenceTracker::hold(const std::string& channel, const Member& member) {
    Key key{channel, member.client};
    auto [it, added] = held_.try_emplace(key);
    Held& held = it->second;
    if (added) held.member = member;
    ++held.holders;
    if (held.leaveAt) {  // back within the grace or linger: still a member, nothing to say
        deadlines_.erase({*held.leaveAt, key});
        held.leaveAt.reset();
    }
    held.wanted = true;
    if (!held.joined) changed(key);
}

void PresenceTracker::release(const std::string& channel, const std::string& client, std::chrono::milliseconds linger) {
    auto it = held_.find(Key{channel, client});
    if (it == held_.end() || it->second.holders == 0) return;
    Held& held = it->second;
    if (--held.holders > 0) return;
    if (linger.count() <= 0) {
        held.wanted = false;
        changed(it->first);
        return;
    }
    held.leaveAt = Clock::now() + linger;
    deadlines_.insert({*held.leaveAt, it->first});
    schedule();
}

void PresenceTracker::changed(const Key& key) {
    dirty_.insert(key);
    if (flushPosted_) return;
    flushPosted_ = true;
    asio::post(io_, [this, alive = alive_] {
        if (!*alive) return;
        flushPosted_ = false;
        flush();
    });
}

void PresenceTracker::flush() {
    std::set<Key> dirty;
    dirty.swap(dirty_);
    auto alive = alive_;
    for (const Key& key : dirty) {
        auto it = held_.find(key);
        if (it == held_.end()) continue;
        Held& held = it->second;
        const bool announce = announces(key.first);
        if (held.wanted && !held.joined) {
            held.joined = true;
            store_.join(key.first, held.member, announce, [this, alive](protocol::Result<MessagePtr> result) {
                if (!*alive) return;
                if (!result) {
                    ++failures_;
                } else if (*result) {
                    ++joins_;
                }
            });
        } else if (!held.wanted) {
            const bool joined = held.joined;
            held_.erase(it);  // before the call: its answer may come at once
            if (!joined) continue;
            store_.leave(key.first, key.second, announce, [this, alive](protocol::Result<MessagePtr> result) {
                if (!*alive) return;
                if (!result) {
                    ++failures_;
                } else if (*result) {
                    ++leaves_;
                }
            });
        }
    }
}

void PresenceTracker::rejoinAll() {
    for (auto& [key, held] : held_) {
        if (held.joined && held.wanted) {
            held.joined = false;
            changed(key);
        }
    }
}

// One timer, armed for the earliest deadline.
void PresenceTracker::schedule() {
    if (deadlines_.empty()) return;
    const Clock::time_point first = deadlines_.begin()->first;
    if (armedFor_ && *armedFor_ <= first) return;
    armedFor_ = first;
    timer_.expires_at(first);
    auto alive = alive_;
    timer_.async_wait([this, alive](const std::error_code& ec) {
        if (!*alive || ec) return;
        armedFor_.reset();
        expire();
    });
}

void PresenceTracker::expire() {
    const Clock::time_point now = Clock::now();
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
        const Key key = deadlines_.begin()->second;
        deadlines_.erase(deadlines_.begin());
        auto it = held_.find(key);
        if (it == held_.end() || it->second.holders > 0) continue;
        it->second.leaveAt.reset();
        it->second.wanted = false;
        changed(key);
    }
    schedule();
}

}  // namespace pushwire::server
