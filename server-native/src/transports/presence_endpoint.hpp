// Reading presence: GET /pushwire/presence?channel=C[&stats=1] and the WebSocket
// `presence` / `presence_stats` frames (docs/protocol.md, Presence), and what the server
// API's presence methods call. Rights: the right to subscribe to the channel.
//
// Threading: the loop thread; answers may come later (a remote store).
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "front/http_connection.hpp"
#include "transports/context.hpp"

namespace pushwire::server {

// Why `caller` may not read `channel`'s presence (nullopt: it may): not_found when the
// channel is no presence channel (or the server has none), else the subscribe refusal.
std::optional<protocol::Error> presenceRefusal(const Context& context, const Caller& caller,
                                               const std::string& channel);

// The members of a snapshot as JSON array elements (without the brackets).
std::string encodeMembers(const PresenceSnapshot& snapshot);
// The snapshot's position as a cursor of the channel (as `since` takes it).
std::string positionCursor(const std::string& channel, const StreamHead& position);

// The JSON answer of a presence read of `channel` (no rights checked: the caller does):
// `type` "presence" or "presence_stats" as WebSocket frames have it, "" for HTTP (no
// type field); `idJson`: the frame's id ("": none). `done` gets the answer, or the error.
void readPresence(Context& context, const std::string& channel, bool statsOnly, const std::string& type,
                  const std::string& idJson, std::function<void(protocol::Result<std::string>)> done);

// GET /pushwire/presence
void handlePresence(Context& context, HttpRequest& request, const HttpConnectionPtr& connection);

}  // namespace pushwire::server
