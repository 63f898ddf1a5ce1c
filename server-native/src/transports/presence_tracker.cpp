#include "transports/presence_tracker.hpp"

#include <asio/post.hpp>

namespace pushwire::server {

PresenceTracker::PresenceTracker(asio::io_context& io, Presence& store, PresenceSettings settings)
    : io_(io), store_(store), settings_(std::move(settings)), timer_(io), retryTimer_(io) {}

PresenceTracker::~PresenceTracker() {
    *alive_ = false;
    timer_.cancel();
    retryTimer_.cancel();
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
    if (!held.joined || held.busy) changed(key);
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
    for (const Key& key : dirty) reconcile(key);
}

// Brings the store in line with what this node's clients hold: one call at a time per
// membership; a call that failed (the broker unavailable) is tried again a second later,
// so a member is never left behind in a shared store, nor missing from it.
void PresenceTracker::reconcile(const Key& key) {
    auto it = held_.find(key);
    if (it == held_.end() || it->second.busy) return;
    Held& held = it->second;
    const bool announce = announces(key.first);
    if (held.wanted == held.joined) {
        if (!held.wanted) held_.erase(it);
        return;
    }
    held.busy = true;
    const bool joining = held.wanted;
    auto settled = [this, alive = alive_, key, joining](protocol::Result<MessagePtr> result) {
        if (!*alive) return;
        auto found = held_.find(key);
        if (found == held_.end()) return;
        Held& now = found->second;
        now.busy = false;
        if (!result) {
            ++failures_;
            retryLater(key);
            return;
        }
        if (*result) ++(joining ? joins_ : leaves_);
        now.joined = joining;
        if (now.wanted != now.joined) {
            changed(key);  // held or released again meanwhile: go the other way
        } else if (!now.wanted) {
            held_.erase(found);
        }
    };
    if (joining) {
        store_.join(key.first, held.member, announce, std::move(settled));
    } else {
        store_.leave(key.first, key.second, announce, std::move(settled));
    }
}

void PresenceTracker::retryLater(const Key& key) {
    retry_.insert(key);
    if (retryArmed_) return;
    retryArmed_ = true;
    retryTimer_.expires_after(std::chrono::seconds(1));
    retryTimer_.async_wait([this, alive = alive_](const std::error_code& ec) {
        if (!*alive || ec) return;
        retryArmed_ = false;
        std::set<Key> keys;
        keys.swap(retry_);
        for (const Key& again : keys) changed(again);
    });
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
