// ClientCore, publishing: a publish goes in-band on a bidirectional transport, else by
// HTTP POST. Each carries an idempotency key the client makes, so that one whose fate is
// unknown (no answer: the connection dropped, the request timed out; the server's
// publish_outcome_unknown, broker_unavailable or a proxy's 5xx) is sent again with the
// same key, a few times with backoff: the server stores it once, and the application
// gets its seq.
#include "core/client_core.hpp"
#include "core/wire.hpp"
#include "pushwire/protocol/channel_name.hpp"
#include "pushwire/protocol/frames.hpp"

namespace pushwire::client {

namespace {

Error closedError() { return Error{"closed", "the client is closed"}; }

// Whether the server may not have stored it, and a later attempt may: those are sent again.
bool worthRetrying(const Error& error) {
    return error.code == "network" || error.code == "publish_outcome_unknown" || error.code == "broker_unavailable" ||
           error.code == "overloaded";
}

}  // namespace

void ClientCore::publish(const std::string& channel, const std::string& dataJson, PublishCallback done) {
    if (closed_) {
        Error error = closedError();
        done(std::nullopt, &error);
        return;
    }
    if (auto problem = protocol::channelNameProblem(channel)) {
        Error error{"bad_channel", *problem};
        done(std::nullopt, &error);
        return;
    }
    // A key no other publish of any client shares in the server's window: random, and
    // this client's count (so that a poor random source still gives each its own).
    static const char kDigits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    std::string key;
    for (int i = 0; i < 16; ++i) key += kDigits[static_cast<int>(platform_.random01() * 36) % 36];
    OutgoingPublish out{channel, dataJson, key + "." + std::to_string(++publishCount_), 0, std::move(done)};
    // "From now" is the moment subscribe() was called: a publish made after it to a
    // channel this client reads from now waits until the server has told that
    // subscription's position, so the subscription receives it, on every transport.
    auto subscribed = channels_.find(channel);
    if (subscribed != channels_.end() && !subscribed->second.position) {
        subscribed->second.held.push_back(HeldPublish{std::move(out), platform_.nowMs()});
        if (!heldTimer_) releaseOverdueHeld();
        return;
    }
    sendPublish(std::move(out));
}

void ClientCore::releaseHeld(const std::string& channel) {
    auto it = channels_.find(channel);
    if (it == channels_.end() || it->second.held.empty()) return;
    auto held = std::move(it->second.held);
    it->second.held.clear();
    for (HeldPublish& entry : held) sendPublish(std::move(entry.publish));
}

void ClientCore::releaseOverdueHeld() {
    const std::int64_t now = platform_.nowMs();
    std::vector<HeldPublish> overdue;
    std::int64_t next = -1;
    for (auto& [name, state] : channels_) {
        auto keep = state.held.begin();
        for (auto& entry : state.held) {
            if (now - entry.sinceMs >= kHoldPublishesMs) {
                overdue.push_back(std::move(entry));
            } else {
                if (next < 0 || entry.sinceMs < next) next = entry.sinceMs;
                if (&*keep != &entry) *keep = std::move(entry);
                ++keep;
            }
        }
        state.held.erase(keep, state.held.end());
    }
    if (next >= 0) {
        auto alive = alive_;
        heldTimer_ = platform_.setTimer(static_cast<int>(next + kHoldPublishesMs - now), [this, alive] {
            if (!alive.alive()) return;
            heldTimer_ = 0;
            releaseOverdueHeld();
        });
    }
    for (HeldPublish& entry : overdue) sendPublish(std::move(entry.publish));
}

// The answer of one attempt: a seq, a final error, or another attempt after a backoff
// (250 ms doubling to 4 s, jittered: the server has a moment to recover).
PublishCallback ClientCore::answerOf(OutgoingPublish out) {
    auto alive = alive_;
    return [this, alive, out = std::move(out)](std::optional<std::uint64_t> seq, const Error* error) mutable {
        if (!seq && error && alive.alive() && !closed_ && out.attempt + 1 < kPublishAttempts && worthRetrying(*error)) {
            ++out.attempt;
            const int ceiling = std::min(4000, 250 << (out.attempt - 1));
            const int delay = ceiling / 2 + static_cast<int>(platform_.random01() * ceiling / 2);
            const int id = ++publishCount_;
            PublishCallback& waiting = publishRetries_[id].second;
            waiting = std::move(out.done);
            publishRetries_[id].first = platform_.setTimer(delay, [this, alive, id, out = std::move(out)]() mutable {
                if (!alive.alive()) return;
                auto it = publishRetries_.find(id);
                if (it == publishRetries_.end()) return;
                out.done = std::move(it->second.second);
                publishRetries_.erase(it);
                sendPublish(std::move(out));
            });
            return;
        }
        out.done(seq, error);
    };
}

void ClientCore::sendPublish(OutgoingPublish out) {
    if (closed_) {
        Error error = closedError();
        out.done(std::nullopt, &error);
        return;
    }
    // The server's limit, known from negotiate: a publish above it is refused here, not
    // by a connection the server has to close.
    if (maxMessageBytes_ > 0 && out.dataJson.size() > maxMessageBytes_) {
        Error error{"too_large", "data is " + std::to_string(out.dataJson.size()) +
                                     " bytes; the server takes at most " + std::to_string(maxMessageBytes_)};
        out.done(std::nullopt, &error);
        return;
    }
    const TransportInfo* info = currentInfo();
    if (info && opened_ && info->capabilities.bidirectional) {
        std::string id = std::to_string(nextPublishId_++);
        if (transport_->send(protocol::encodePublishFrame(out.channel, out.dataJson, id, out.key))) {
            pendingPublishes_.emplace(id, answerOf(std::move(out)));
            return;
        }
    }
    std::string body =
        "{\"channel\":\"" + out.channel + "\",\"data\":" + out.dataJson + ",\"idempotency_key\":\"" + out.key + "\"}";
    publishOverHttp(std::move(body), answerOf(std::move(out)));
}

void ClientCore::publishOverHttp(std::string body, PublishCallback done, bool retried) {
    auto alive = alive_;
    const std::string usedToken = token_;
    platform_.httpRequest("POST", baseUrl_ + "/pushwire/publish", body, token_, 15000,
                          [this, alive, usedToken, body, retried, done = std::move(done)](const HttpResponse& r) {
                              if (!alive.alive()) return;
                              // Refused for its token: once more, with a new one.
                              if (r.status == 401 && options_.getToken && !closed_ && !retried) {
                                  auto again = [this, body, done] { publishOverHttp(body, done, true); };
                                  if (usedToken == token_) {
                                      withToken(true, again);
                                  } else {
                                      again();
                                  }
                                  return;
                              }
                              if (r.status == 0) {
                                  Error error{"network", "the publish request failed: server unreachable"};
                                  done(std::nullopt, &error);
                                  return;
                              }
                              auto ack = wire::publishAck(r.body);
                              if (r.status == 200 && ack) {
                                  done(ack->seq, nullptr);
                                  return;
                              }
                              Error error = ack ? Error{"internal", "unexpected answer"} : toError(ack.error());
                              if (error.code == "internal" || error.code == "bad_json") {
                                  // Not the server's own answer: a proxy's page (502, 504: it had no answer).
                                  if (r.status >= 502 && r.status <= 504) error.code = "publish_outcome_unknown";
                                  error.message = "HTTP " + std::to_string(r.status) + ": " + error.message;
                              }
                              done(std::nullopt, &error);
                          });
}

void ClientCore::transportAck(int generation, const std::string& idJson, std::uint64_t seq) {
    (void)generation;  // acks are keyed by id; a stale transport's were failed already
    auto it = pendingPublishes_.find(idJson);
    if (it == pendingPublishes_.end()) return;
    PublishCallback done = std::move(it->second);
    pendingPublishes_.erase(it);
    done(seq, nullptr);
}

void ClientCore::failPendingPublishes(const std::string& message) {
    auto pending = std::move(pendingPublishes_);
    pendingPublishes_.clear();
    for (auto& [id, done] : pending) {
        Error error{"network", message};
        done(std::nullopt, &error);
    }
}

void ClientCore::failHeldPublishes() {
    std::vector<PublishCallback> waiting;
    for (auto& [name, state] : channels_) {
        for (HeldPublish& entry : state.held) waiting.push_back(std::move(entry.publish.done));
        state.held.clear();
    }
    for (auto& [id, retry] : publishRetries_) {
        platform_.cancelTimer(retry.first);
        waiting.push_back(std::move(retry.second));
    }
    publishRetries_.clear();
    for (auto& done : waiting) {
        Error error = closedError();
        done(std::nullopt, &error);
    }
}

}  // namespace pushwire::client
