#include "transports/presence_tracker.hpp"

#include <asio/post.hpp>

namespace pushwire::server {

PresenceTracker::PresenceTracker(asio::io_context& io, Presence& store, PresenceSettings settings)
    : io_(io), store_(store), settings_(std::move(settings)), timer_(io), flushTimer_(io), retryTimer_(io) {}

PresenceTracker::~PresenceTracker() {
    *alive_ = false;
    timer_.cancel();
    retryTimer_.cancel();
    flushTimer_.cancel();
}

bool PresenceTracker::hold(const std::string& channel, const Member& member) {
    Key key{channel, member.client};
    auto it = held_.find(key);
    if (it == held_.end()) {
        std::size_t& count = perChannel_[channel];
        if (count >= settings_.maxMembers) {
            if (count == 0) perChannel_.erase(channel);
            ++overCap_;
            return false;
        }
        ++count;
        it = held_.emplace(key, Held{}).first;
        it->second.member = recordOf(member);
    }
    Held& held = it->second;
    ++held.holders;
    if (held.leaveAt) {  // back within the grace or linger: still a member, nothing to say
        deadlines_.erase({*held.leaveAt, key});
        held.leaveAt.reset();
    }
    held.wanted = true;
    if (!held.joined || held.busy) changed(key);
    return true;
}

// The client's record, shared by its memberships (one copy of a 1 KiB info, not one per
// channel); a client seen again with another user or info (another token) gets its own.
std::shared_ptr<const Member> PresenceTracker::recordOf(const Member& member) {
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

void PresenceTracker::erase(std::map<Key, Held>::iterator it) {
    auto count = perChannel_.find(it->first.first);
    if (count != perChannel_.end() && --count->second == 0) perChannel_.erase(count);
    const std::string client = it->first.second;
    held_.erase(it);
    auto record = records_.find(client);
    if (record != records_.end() && record->second.expired()) records_.erase(record);
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
    if (dirty_.insert(key).second) dirtyOrder_.push_back(key);
    postFlush(true);
}

// The first change after a quiet spell waits settings_.gather for others (a burst of
// connections joining or closing arrives over many turns: one batch for them, not one
// call each); the rest of a burst already under way follows on the next turn.
void PresenceTracker::postFlush(bool gather) {
    if (flushPosted_) return;
    flushPosted_ = true;
    auto run = [this, alive = alive_] {
        if (!*alive) return;
        flushPosted_ = false;
        flush();
    };
    if (!gather || inFlight_ > 0 || settings_.gather.count() <= 0) {
        asio::post(io_, std::move(run));
        return;
    }
    flushTimer_.expires_after(settings_.gather);
    flushTimer_.async_wait([run = std::move(run)](const std::error_code& ec) {
        if (!ec) run();
    });
}

// Tells the store what changed, bounded so a flood of joins and leaves never holds the
// loop (other clients are served between two turns) nor piles up calls on the store:
// at most kPerTurn memberships looked at per turn, in batches of at most kBatch changes
// (one store call each: one Redis round trip, whatever the channels), at most kInFlight
// calls unanswered. What is left waits in dirty_ for the next turn or the next answer;
// under load, changes gather meanwhile and batches grow. Each membership has one call at
// a time, so its joins and leaves reach the store in the order they happened.
void PresenceTracker::flush() {
    std::size_t looked = 0;
    while (!dirty_.empty() && looked < kPerTurn && inFlight_ < kInFlight) {
        std::vector<Key> keys;
        std::vector<Presence::Change> changes;
        while (!dirtyOrder_.empty() && changes.size() < kBatch && looked < kPerTurn) {
            const Key key = std::move(dirtyOrder_.front());
            dirtyOrder_.pop_front();
            dirty_.erase(key);
            ++looked;
            auto found = held_.find(key);
            if (found == held_.end() || found->second.busy) continue;  // a busy one comes back when settled
            Held& held = found->second;
            if (held.wanted == held.joined) {
                if (!held.wanted) erase(found);
                continue;
            }
            held.busy = true;
            keys.push_back(key);
            Presence::Change change;
            change.channel = key.first;
            change.join = held.wanted;
            change.announce = announces(key.first);
            if (held.wanted) {
                change.member = *held.member;
            } else {
                change.member.client = key.second;
            }
            changes.push_back(std::move(change));
        }
        if (changes.empty()) continue;
        ++inFlight_;
        ++batches_;
        std::vector<bool> joining;
        joining.reserve(changes.size());
        for (const Presence::Change& change : changes) joining.push_back(change.join);
        store_.apply(std::move(changes), [this, alive = alive_, keys = std::move(keys), joining = std::move(joining)](
                                             std::vector<protocol::Result<MessagePtr>> results) {
            if (!*alive) return;
            --inFlight_;
            for (std::size_t i = 0; i < keys.size(); ++i) {
                settle(keys[i], joining[i], i < results.size() ? results[i] : MessagePtr());
            }
            if (!dirty_.empty()) postFlush(false);
        });
    }
    if (!dirty_.empty() && inFlight_ < kInFlight) postFlush(false);
}

// One membership's store call answered. A failure (the broker unavailable, or no answer)
// is tried again a second later, so a member is never left behind in a shared store, nor
// missing from it: the store ignores a join of a member it has and a leave of one it has
// not, so a retry of a change that did happen neither doubles it nor announces it twice.
void PresenceTracker::settle(const Key& key, bool joining, const protocol::Result<MessagePtr>& result) {
    auto found = held_.find(key);
    if (found == held_.end()) return;
    Held& now = found->second;
    now.busy = false;
    if (!result) {
        ++failures_;
        retryLater(key);
        return;
    }
    if (result.value()) ++(joining ? joins_ : leaves_);
    now.joined = joining;
    if (now.wanted != now.joined) {
        changed(key);  // held or released again meanwhile: go the other way
    } else if (!now.wanted) {
        erase(found);
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

// At most kExpirePerTurn deadlines per loop turn (a thousand connections closing at once
// leave a million memberships to end): the rest on the next turn, other clients between.
void PresenceTracker::expire() {
    const Clock::time_point now = Clock::now();
    std::size_t handled = 0;
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
        if (++handled > kExpirePerTurn) {
            asio::post(io_, [this, alive = alive_] {
                if (*alive) expire();
            });
            return;
        }
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
