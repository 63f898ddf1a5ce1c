// Value types of the pushwire client API, shared by the C++ API, the JS binding and the
// core. No behaviour here.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace pushwire {

enum class Transport { Auto, WebSocket, Sse, LongPoll, Poll };
// Disconnected: stopped by the application (Client disconnect()), subscriptions kept;
// connect() resumes. Closed: for good.
enum class State { Connecting, Connected, Reconnecting, Closed, Disconnected };

const char* toString(Transport transport);  // "auto", "websocket", "sse", "longpoll", "poll"
const char* toString(State state);          // "connecting", "connected", ...
std::optional<Transport> transportFromString(const std::string& name);

struct Message {
    std::string channel;
    std::uint64_t seq = 0;
    std::string data;       // the message's JSON value, serialized
    std::int64_t time = 0;  // ms since the Unix epoch, server clock
};

// A range of messages that will never be delivered. `to` is empty when unknown (the
// server restarted without durable storage).
struct Gap {
    std::string channel;
    std::uint64_t from = 0;
    std::optional<std::uint64_t> to;
    std::string reason;  // "evicted", "epoch_changed", "missing"
};

// A member of a presence channel: one subscription of one connection.
struct Member {
    std::string client;         // the connection's id (Client::id() of the client it is)
    std::string user;           // the token's sub; "" when anonymous
    std::string info = "null";  // the token's `info` claim, as JSON text ("null" when none)
};

// A presence channel's numbers: connections, and distinct users (tabs of one user: one).
struct PresenceStats {
    std::uint64_t clients = 0;
    std::uint64_t users = 0;
};

struct Error {
    std::string code;  // "bad_channel", "too_large", "network", ...
    std::string message;
};

// A token for the server (a JWT from your backend), given through `done`; an empty string
// when none could be had (the client asks again later, with its backoff).
using TokenCallback = std::function<void(const std::string& token)>;
using TokenProvider = std::function<void(TokenCallback done)>;

struct ClientOptions {
    Transport transport = Transport::Auto;
    int pollIntervalMs = 1000;
    int reconnectInitialMs = 500;  // backoff: full jitter, doubling up to the maximum
    int reconnectMaxMs = 15000;
    int connectTimeoutMs = 0;  // a transport not open by then is given up (0: its own default)
    // "auto" settled below the best transport: try the better ones again this often,
    // in the background, and switch when one opens (0: never).
    int upgradeIntervalMs = 20000;
    // Called before connecting, ahead of the token's exp (so streams never lapse), and
    // when the server refuses the token (401); the client then resumes from its cursor
    // with the new one: nothing lost, no gap. Unset: no token is sent.
    TokenProvider getToken;
#ifndef __EMSCRIPTEN__
    // Native (client-native/): the CA certificates (a PEM file) that https:// and wss://
    // servers are verified against; empty: the system's store. Always verified.
    std::string caFile;
#endif
};

using MessageHandler = std::function<void(const Message&)>;
using ChannelHandler = std::function<void(const std::string& channel)>;
using GapHandler = std::function<void(const Gap&)>;
using ErrorHandler = std::function<void(const Error&)>;
using StateHandler = std::function<void(State, const std::string& reason)>;
using MemberHandler = std::function<void(const Member&)>;
// Exactly one of members and error is set.
using PresenceCallback = std::function<void(const std::vector<Member>* members, const Error* error)>;
using PresenceStatsCallback = std::function<void(std::optional<PresenceStats> stats, const Error* error)>;
// Exactly one of seq and error is set.
using PublishCallback = std::function<void(std::optional<std::uint64_t> seq, const Error* error)>;

struct SubscribeOptions {
    // Where to start: a position saved earlier (Subscription::position()), resumed right
    // after it (with a gap event if the server no longer holds what follows); "0": from
    // the oldest message the server holds; empty: from now. A channel this client already
    // reads keeps its own position.
    std::string since;
    GapHandler onGap;
    // The server refused the subscription (forbidden: outside the token's rights;
    // unauthorized: a token is needed): the subscription ends; the others go on. Also
    // bad_cursor: `since` was not a position of this channel (the subscription reads from
    // now), and unauthorized/token_expired once when the server refuses the connection's
    // token (the subscription stays and resumes with a good one).
    ErrorHandler onError;
    // Presence channels (the server's --presence, with --join-leave for the events): a
    // member that joins or leaves the channel. With either set, the client keeps the
    // channel's member set exact: it reads the members when the subscription starts (each
    // comes as an onJoin), and again after any reconnect or gap, and tells only the
    // difference; each change comes once.
    MemberHandler onJoin{};  // (defaulted: aggregates naming only the fields above stay valid)
    MemberHandler onLeave{};
};

}  // namespace pushwire
