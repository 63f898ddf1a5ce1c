// ClientCore, presence: the application's presence queries, and the exact member set of
// the channels whose subscriptions watch joins and leaves (onJoin/onLeave).
//
// The member set is a snapshot plus the entries after it. Join and leave are entries of
// the channel's stream with a seq, so the stream delivers them in order, once, resumed
// across reconnects like messages. A snapshot (the members and the channel's position
// when the server read them) is asked when a subscription starts watching and again
// after any reconnect or gap; while it is in flight the join/leave entries that arrive
// wait. When it comes: the set becomes the snapshot, the subscriptions are told the
// difference from what they knew (onLeave for the members gone, onJoin for the new ones),
// and of the entries that waited only those after the snapshot's position are applied;
// later entries at or before it are dropped (the snapshot holds them). A join of a member
// already in the set or a leave of one not in it says nothing, so nothing is told twice.
#include <algorithm>

#include "core/client_core.hpp"
#include "core/wire.hpp"
#include "pushwire/protocol/cursor.hpp"
#include "pushwire/protocol/frames.hpp"

namespace pushwire::client {

namespace {

Error closedError() { return Error{"closed", "the client is closed"}; }

// Errors after which a snapshot is asked again (later); the others say the channel has
// no presence for this client (not a presence channel, forbidden).
bool transient(const Error& error) {
    return error.code == "network" || error.code == "overloaded" || error.code == "broker_unavailable" ||
           error.code == "rate_limited" || error.code == "unauthorized" || error.code == "token_expired";
}

// Entries kept while a snapshot is in flight, at most: past that the snapshot in flight
// is given up and another asked, which holds them all.
constexpr std::size_t kMaxHeldEntries = 10000;

}  // namespace

// ---------------------------------------------------------------- queries

void ClientCore::presence(int subscriptionId, bool statsOnly, PresenceDone done) {
    auto sub = subscriptions_.find(subscriptionId);
    if (closed_ || sub == subscriptions_.end()) {
        Error error = closed_ ? closedError() : Error{"unsubscribed", "the subscription has ended"};
        done(nullptr, &error);
        return;
    }
    sendPresenceQuery(PresenceQuery{sub->second.channel, statsOnly, std::move(done)});
}

void ClientCore::sendPresenceQuery(PresenceQuery query) {
    if (closed_) {
        Error error = closedError();
        query.done(nullptr, &error);
        return;
    }
    const TransportInfo* info = currentInfo();
    if (info && opened_ && info->capabilities.bidirectional) {
        std::string id = std::to_string(nextPublishId_++);
        if (transport_->send(protocol::encodePresenceQueryFrame(query.channel, query.statsOnly, id))) {
            presenceQueries_.emplace(id, std::move(query));
            return;
        }
    }
    presenceOverHttp(std::move(query));
}

void ClientCore::presenceOverHttp(PresenceQuery query, bool retried) {
    auto alive = alive_;
    const std::string usedToken = token_;
    std::string url = baseUrl_ + "/pushwire/presence?channel=" + query.channel + (query.statsOnly ? "&stats=1" : "");
    auto shared = std::make_shared<PresenceQuery>(std::move(query));
    platform_.httpRequest("GET", url, "", token_, 15000,
                          [this, alive, usedToken, retried, shared](const HttpResponse& r) {
                              if (!alive.alive()) return;
                              PresenceQuery& q = *shared;
                              if (r.status == 401 && options_.getToken && !closed_ && !retried) {
                                  // Refused for its token: once more, with a new one.
                                  auto again = [this, shared] { presenceOverHttp(std::move(*shared), true); };
                                  if (usedToken == token_) {
                                      withToken(true, again);
                                  } else {
                                      again();
                                  }
                                  return;
                              }
                              if (r.status == 0) {
                                  Error error{"network", "the presence request failed: server unreachable"};
                                  q.done(nullptr, &error);
                                  return;
                              }
                              auto answer = wire::presenceAnswer(r.body);
                              if (r.status == 200 && answer) {
                                  q.done(&answer.value(), nullptr);
                                  return;
                              }
                              Error error = answer ? Error{"internal", "unexpected answer"} : toError(answer.error());
                              if (error.code == "internal" || error.code == "bad_json") {
                                  // Not the server's own answer: a proxy's page (no answer from the server).
                                  if (r.status >= 502 && r.status <= 504) error.code = "network";
                                  error.message = "HTTP " + std::to_string(r.status) + ": " + error.message;
                              }
                              q.done(nullptr, &error);
                          });
}

void ClientCore::transportPresence(int generation, const std::string& idJson, const protocol::PresenceAnswer& answer) {
    (void)generation;  // by id; a stale transport's queries were moved already
    auto it = presenceQueries_.find(idJson);
    if (it == presenceQueries_.end()) return;
    PresenceQuery query = std::move(it->second);
    presenceQueries_.erase(it);
    query.done(&answer, nullptr);
}

void ClientCore::movePresenceQueries(bool fail) {
    auto queries = std::move(presenceQueries_);
    presenceQueries_.clear();
    for (auto& [id, query] : queries) {
        if (fail) {
            Error error = closedError();
            query.done(nullptr, &error);
        } else {
            presenceOverHttp(std::move(query));
        }
    }
}

void ClientCore::transportClientId(int generation, const std::string& clientId) {
    if ((isCurrent(generation) || isProbe(generation)) && !clientId.empty()) clientId_ = clientId;
}

// ---------------------------------------------------------------- the member set

bool ClientCore::watchesPresence(const std::string& channel) const {
    auto it = channels_.find(channel);
    if (it == channels_.end()) return false;
    for (int id : it->second.subscriptions) {
        auto sub = subscriptions_.find(id);
        if (sub != subscriptions_.end() && sub->second.watchesPresence()) return true;
    }
    return false;
}

void ClientCore::needPresenceSnapshot(const std::string& channel) {
    if (!watchesPresence(channel)) return;
    PresenceTrack& track = channels_.find(channel)->second.presence;
    if (track.unavailable) return;
    track.syncing = true;
    track.request = 0;  // an answer in flight may predate what made this one needed
    cancelTimer(track.retryTimer);
    track.failures = 0;
    startPresenceSnapshot(channel);
}

void ClientCore::startPresenceSnapshot(const std::string& channel) {
    auto it = channels_.find(channel);
    if (closed_ || it == channels_.end()) return;
    PresenceTrack& track = it->second.presence;
    if (!track.syncing || track.request || track.retryTimer || !it->second.position) return;
    const int request = ++presenceRequests_;
    track.request = request;
    auto alive = alive_;
    sendPresenceQuery(PresenceQuery{
        channel, false, [this, alive, channel, request](const protocol::PresenceAnswer* answer, const Error* error) {
            if (alive.alive()) presenceSnapshotAnswered(channel, request, answer, error);
        }});
}

void ClientCore::presenceSnapshotAnswered(const std::string& channel, int request,
                                          const protocol::PresenceAnswer* answer, const Error* error) {
    auto it = channels_.find(channel);
    if (closed_ || it == channels_.end() || it->second.presence.request != request) return;
    ChannelState& state = it->second;
    PresenceTrack& track = state.presence;
    track.request = 0;
    // The snapshot's position in the channel's stream.
    std::optional<protocol::StreamPosition> at;
    if (answer && !answer->position.empty()) {
        if (auto cursor = protocol::parseCursor(answer->position)) {
            auto positions = protocol::positionsFor(*cursor, {channel});
            if (positions && !positions->empty() && (*positions)[0]) at = *(*positions)[0];
        }
    }
    const bool otherLife = at && !at->epoch.empty() && !state.epoch.empty() && at->epoch != state.epoch;
    if (error || !at || otherLife) {
        Error problem = error ? *error
                              : Error{"bad_json", otherLife ? "the snapshot is of another life of the channel"
                                                            : "the presence answer has no position"};
        if (!transient(problem) && !otherLife) {
            // No presence here: the entries that come (if any) are applied as they come.
            track.unavailable = true;
            track.syncing = false;
            for (int id : state.subscriptions) {
                auto sub = subscriptions_.find(id);
                if (sub != subscriptions_.end()) sub->second.presenceSynced = true;
            }
            auto held = std::move(track.held);
            track.held.clear();
            for (const protocol::Envelope& entry : held) applyPresenceEntry(channel, entry);
            return;
        }
        // Again after a while (the stream's gap for a new life comes meanwhile).
        const int delay = std::min(15000, 500 << std::min(track.failures++, 5));
        auto alive = alive_;
        track.retryTimer = platform_.setTimer(delay, [this, alive, channel] {
            if (!alive.alive()) return;
            auto ch = channels_.find(channel);
            if (ch == channels_.end()) return;
            ch->second.presence.retryTimer = 0;
            startPresenceSnapshot(channel);
        });
        return;
    }
    track.failures = 0;
    track.syncing = false;
    track.snapshotSeq = at->seq;
    if (state.epoch.empty()) state.epoch = at->epoch;
    // The new set, and what each subscription is told: the difference for those that knew
    // the old set; every member, as joins, for those that start watching now.
    std::map<std::string, Member> now;
    for (const protocol::Member& m : answer->members) now.emplace(m.client, Member{m.client, m.user, m.infoJson});
    std::vector<Member> gone, added;
    for (const auto& [client, member] : track.members) {
        // A truncated list (--max-presence-members) does not say who is gone.
        if (!now.count(client) && !answer->truncated) gone.push_back(member);
    }
    for (const auto& [client, member] : now) {
        if (!track.members.count(client)) added.push_back(member);
    }
    if (answer->truncated) {
        for (const auto& [client, member] : track.members) now.emplace(client, member);  // kept, unsure
    }
    std::vector<int> synced, starting;
    for (int id : state.subscriptions) {
        auto sub = subscriptions_.find(id);
        if (sub == subscriptions_.end() || !sub->second.watchesPresence()) continue;
        (sub->second.presenceSynced ? synced : starting).push_back(id);
        sub->second.presenceSynced = true;
    }
    std::vector<Member> everyone;
    for (const auto& [client, member] : now) everyone.push_back(member);
    track.members = std::move(now);
    auto held = std::move(track.held);
    track.held.clear();
    // Each call may unsubscribe or close: emitMember finds the subscriptions again.
    for (const Member& m : gone) emitMember(channel, false, m, &synced);
    for (const Member& m : added) emitMember(channel, true, m, &synced);
    for (const Member& m : everyone) emitMember(channel, true, m, &starting);
    for (const protocol::Envelope& entry : held) {
        if (closed_) return;
        applyPresenceEntry(channel, entry);
    }
}

void ClientCore::presenceEntry(const std::string& channel, const protocol::Envelope& entry) {
    auto it = channels_.find(channel);
    if (it == channels_.end() || !watchesPresence(channel)) return;
    PresenceTrack& track = it->second.presence;
    if (!track.syncing) {
        applyPresenceEntry(channel, entry);
        return;
    }
    if (track.held.size() >= kMaxHeldEntries) {
        // The snapshot takes long: a new one, asked now, holds every entry held so far.
        track.held.clear();
        track.request = 0;
        startPresenceSnapshot(channel);
    }
    track.held.push_back(entry);
}

void ClientCore::applyPresenceEntry(const std::string& channel, const protocol::Envelope& entry) {
    auto it = channels_.find(channel);
    if (it == channels_.end()) return;
    PresenceTrack& track = it->second.presence;
    if (track.snapshotSeq && entry.seq <= *track.snapshotSeq) return;  // in the snapshot already
    const bool join = entry.event == protocol::EntryEvent::Join;
    auto known = track.members.find(entry.member.client);
    if (join == (known != track.members.end())) return;  // already so: nothing to tell
    Member member{entry.member.client, entry.member.user, entry.member.infoJson};
    if (join) {
        track.members.emplace(member.client, member);
    } else {
        member = known->second;  // as it joined
        track.members.erase(known);
    }
    emitMember(channel, join, member);
}

void ClientCore::emitMember(const std::string& channel, bool joined, const Member& member,
                            const std::vector<int>* only) {
    auto it = channels_.find(channel);
    if (it == channels_.end()) return;
    std::vector<int> ids = only ? *only : it->second.subscriptions;
    for (int id : ids) {
        if (closed_) return;
        auto sub = subscriptions_.find(id);
        if (sub == subscriptions_.end() || !sub->second.presenceSynced) continue;
        MemberHandler handler = joined ? sub->second.options.onJoin : sub->second.options.onLeave;
        if (handler) handler(member);
    }
}

void ClientCore::stopPresence(PresenceTrack& track) {
    cancelTimer(track.retryTimer);
    track = PresenceTrack{};
}

}  // namespace pushwire::client
