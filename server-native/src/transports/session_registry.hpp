// The client sessions of this node, by user, for the backend's server API (api/): what
// `disconnect`, `unsubscribe`, `subscribe` and `revoke` act on.
//
// A session with a user (a token with `sub`) is listed while it is open: a WebSocket, an
// SSE stream, a parked long-poll. Pollers have no open connection between requests, so a
// poll client (the user and its client id from `session=`, "" without one) is
// remembered for kPollerLingerMs after its last request, with what the backend asked of
// it meanwhile: disconnected (its next requests are answered 409 disconnected), channels
// unsubscribed by the server (left out of its requests while it lives, and named in each
// answer's "unsubscribed"), channels subscribed by the server (added to its next request,
// named in that answer's "subscribed").
//
// Threading: the loop thread. Sessions add themselves when they get a user and remove
// themselves before they go; the registry never owns one.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pushwire::server {

// What the server API can do to one open session.
class ControlledSession {
public:
    // Close it, telling the client whether to reconnect: WebSocket close 4005 (no) or 4006
    // (yes), SSE `event: disconnect` then the end, a long-poll 409 disconnected.
    virtual void disconnectByServer(bool reconnect) = 0;
    // Its token was revoked: WebSocket error frame and close 4001, SSE `event: error`
    // token_revoked then the end, a long-poll 401 token_revoked.
    virtual void revokeByServer() = 0;
    // Its client id (docs/protocol.md, Presence): from its session=, or random.
    virtual const std::string& clientId() const = 0;
    // Its token's iat (seconds; without one, exp - --max-token-lifetime).
    virtual std::int64_t tokenIssuedAt() const = 0;
    // Stops delivering `channel`, telling the client; false when it was not subscribed.
    virtual bool unsubscribeByServer(const std::string& channel) = 0;
    // Starts delivering `channel` from now, telling the client; false when it already had
    // it or it cannot be had.
    virtual bool subscribeByServer(const std::string& channel) = 0;
    // A parked long-poll: the backend counts and marks its poller (SessionRegistry::Poller)
    // rather than it; it answers at once so that the next request sees the change.
    virtual bool polling() const { return false; }

protected:
    ~ControlledSession() = default;
};

class SessionRegistry {
public:
    static constexpr std::int64_t kPollerLingerMs = 30000;
    // A disconnected poller is refused this long (unless it was told to reconnect: then once).
    static constexpr std::int64_t kDisconnectedMs = 5000;

    void add(const std::string& user, ControlledSession* session);
    void remove(const std::string& user, ControlledSession* session);
    std::vector<ControlledSession*> sessionsOf(std::string_view user) const;
    std::size_t size() const { return count_; }

    // A poll client between requests.
    struct Poller {
        bool polls = false;  // a poll client (not only a mark left by a disconnected event stream)
        std::int64_t lastSeenMs = 0;
        std::int64_t disconnectedUntilMs = 0;  // > now: answer 409
        bool reconnect = false;
        std::set<std::string> unsubscribed;  // left out of its requests
        std::set<std::string> subscribe;     // added to its next request
    };
    // The poller's entry, made if need be, marked seen now.
    // At most kPollersPerUser per user: past it, new client ids share "".
    static constexpr std::size_t kPollersPerUser = 256;
    Poller& poller(const std::string& user, const std::string& client, std::int64_t nowMs);
    // The entry when there is one (not marked seen).
    Poller* findPoller(std::string_view user, const std::string& client);
    // Every poller of `user` seen within the linger, with its client id ("" without a session).
    std::vector<std::pair<std::string, Poller*>> pollersOf(std::string_view user, std::int64_t nowMs);
    // Forgets pollers not seen for the linger. Called about once a second.
    void sweep(std::int64_t nowMs);

private:
    std::map<std::string, std::set<ControlledSession*>, std::less<>> sessions_;
    std::size_t count_ = 0;
    // user -> client id -> poller
    std::map<std::string, std::map<std::string, Poller>, std::less<>> pollers_;
};

}  // namespace pushwire::server
