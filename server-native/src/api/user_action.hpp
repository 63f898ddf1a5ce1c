// What the backend does to a user's connections (server API `disconnect`, `unsubscribe`,
// `subscribe`, `revoke`), as a value that can travel to other nodes (api/cluster_control),
// and its effect on this node's sessions.
//
// Threading: applyLocally() on the loop thread.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "auth/revocations.hpp"
#include "transports/context.hpp"

namespace pushwire::server::api {

struct UserAction {
    enum class Kind { Disconnect, Unsubscribe, Subscribe, Revoke };
    Kind kind = Kind::Disconnect;
    std::string user;
    std::string client;       // Disconnect: only this client ("" every one)
    std::string channel;      // Unsubscribe, Subscribe
    bool reconnect = false;   // Disconnect
    std::int64_t before = 0;  // Revoke: tokens with iat before this (seconds)
};

const char* kindName(UserAction::Kind kind);
nlohmann::json toJson(const UserAction& action);
// Nullopt when `value` is not an action (a message from another version, or noise).
std::optional<UserAction> actionFromJson(const nlohmann::json& value);

// Does `action` to this node's sessions of its user; returns how many connections it
// reached (open connections, and poll clients seen within SessionRegistry's linger).
// Revoke records the revocation first, so that the user's next request is refused too.
std::int64_t applyLocally(const UserAction& action, Context& context, Revocations& revocations);

}  // namespace pushwire::server::api
