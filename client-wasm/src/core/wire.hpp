// What the client reads from the server: WebSocket frames, SSE events, poll answers,
// negotiate, publish acknowledgements, error bodies and a token's expiry. Transports and
// the core read through these, never through a parser of their own.
//
// Two implementations, one per build, chosen at link time:
// - wire_cpp.cpp: protocol/'s C++ decoder. Native builds (the unit tests) and the C++ API
//   in the browser (example-cpp-chat), where a message's dataJson is the data's JSON text.
// - browser/wire_js.cpp: the browser's own JSON.parse, for the JS module (pushwire.js),
//   which then ships no JSON parser (a fifth of its code was one). There a message's
//   data stays a JS value and dataJson is its slot ("3"): bindings.cpp hands the slot to
//   api.js, which takes the value from glue.js (pwTake). A slot lives until the next read,
//   which is enough: the core delivers a message within the call that read it.
//
// Each read validates what it returns as protocol/'s decoder does: a document that is not
// JSON, or lacks a required field, is an Error (a frame that fails is dropped; the core
// reports the hole as a gap).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pushwire/protocol/envelope.hpp"
#include "pushwire/protocol/frames.hpp"

namespace pushwire::client::wire {

protocol::Result<protocol::ServerFrame> serverFrame(std::string_view text);  // WebSocket
protocol::Result<protocol::Envelope> envelope(std::string_view text);        // SSE `message`
protocol::Result<protocol::Gap> gap(std::string_view text);                  // SSE `gap`
protocol::Result<protocol::PollResponse> pollResponse(std::string_view text);
protocol::Result<protocol::PublishAck> publishAck(std::string_view text);
protocol::Result<protocol::NegotiateInfo> negotiate(std::string_view text);
protocol::Result<protocol::ServerFrame> welcome(std::string_view text);  // SSE `welcome` data
protocol::Result<protocol::PresenceAnswer> presenceAnswer(std::string_view text);
// SSE `subscribed`/`unsubscribed`/`disconnect` data, or a 409 disconnected body.
protocol::Result<protocol::ServerAction> serverAction(std::string_view text);
// The error of an error body or SSE `error` event ({"error":{...}}), and the channel it
// names ("" when none).
std::optional<protocol::Error> errorBody(std::string_view text);
std::string errorChannel(std::string_view text);
std::vector<protocol::Refusal> refusals(std::string_view text);  // {"refused":[...]}
std::optional<std::int64_t> tokenExpiry(std::string_view jwt);   // the JWT's exp, unverified

}  // namespace pushwire::client::wire
