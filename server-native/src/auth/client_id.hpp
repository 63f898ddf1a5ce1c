// A connection's client id: what presence shows as a member's `client`, and what the
// WebSocket welcome, the SSE welcome and poll answers announce (docs/protocol.md,
// Presence). 32 lowercase hex digits.
//
// A client keeps one id over its reconnects by sending the same `session=` secret with
// every request: the id is the first 32 hex digits of SHA-256(session). The id is public
// (every member of a channel sees it) and the session is not, so nobody who only saw an
// id can take it over. Without a session, a random id.
//
// Threading: any thread; no state.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "pushwire/protocol/result.hpp"

namespace pushwire::server {

class HttpRequest;

// Lengths a session may have, in characters of A-Z a-z 0-9 _ -.
constexpr std::size_t kMinSessionChars = 32;
constexpr std::size_t kMaxSessionChars = 128;

// The client id of a session (bad_request when the session is malformed).
protocol::Result<std::string> clientIdOfSession(std::string_view session);
// A fresh random client id.
std::string randomClientId();

// What a request says of its client: the id, and whether it came from a session (a
// client that will be back with the same id) or was made up for this connection.
struct ClientId {
    std::string id;
    bool fromSession = false;
};
// From the request's `session` parameter, or random without one (bad_request when it is
// malformed).
protocol::Result<ClientId> clientIdOf(const HttpRequest& request);

}  // namespace pushwire::server
