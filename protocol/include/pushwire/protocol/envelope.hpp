// The message envelope delivered to subscribers and its JSON codec:
//   {"channel":"chat","seq":42,"data":<JSON>,"time":<ms since epoch>}
// `data` is kept as JSON text so that a message is parsed once on publish and
// serialized once per fan-out, never once per subscriber.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "pushwire/protocol/presence.hpp"
#include "pushwire/protocol/result.hpp"

namespace pushwire::protocol {

// How deep a message's data may nest (arrays and objects). The server refuses deeper
// data with `too_deep`. Neither side builds a tree of data: it travels as the publisher's
// JSON text, validated by an iterative parser, so no nesting can exhaust a stack.
constexpr std::size_t kMaxDataDepth = 64;

struct Envelope {
    std::string channel;
    std::uint64_t seq = 0;
    std::string dataJson;  // serialized JSON value ("null" for join and leave)
    std::int64_t timeMs = 0;
    // A message, or a presence channel's join or leave (presence.hpp): those take a seq
    // like messages (ordered with them, resumable, covered by gaps).
    EntryEvent event = EntryEvent::Message;
    Member member{};  // join and leave only
};

// Serialized envelope, fields in the order above:
//   {"channel":"c","seq":1,"data":...,"time":...} for a message,
//   {"channel":"c","seq":17,"event":"join","member":{...},"time":...} for join and leave.
std::string encodeEnvelope(const Envelope& envelope);

// Parses an envelope (also accepts and ignores a "type" field, as on WebSocket). An entry
// with "event" "join" or "leave" needs a "member" object with a string "client"; its data
// is "null" whatever it says.
Result<Envelope> decodeEnvelope(std::string_view text);

// A range of messages the server no longer holds. `to` is nullopt when unknown
// (the server restarted: a new epoch).
enum class GapReason { HistoryEvicted, EpochChanged };
std::string_view gapReasonName(GapReason reason);

struct Gap {
    std::string channel;
    std::uint64_t from = 0;
    std::optional<std::uint64_t> to;
    GapReason reason = GapReason::HistoryEvicted;
    // epoch_changed: the life of the channel's stream that delivery continues in (from
    // seq 1); empty when the server did not say.
    std::string epoch;
};

// {"channel":"chat","from":3,"to":9,"reason":"evicted"} (to: null when unknown;
// epoch_changed gaps also carry "epoch")
std::string encodeGap(const Gap& gap);
Result<Gap> decodeGap(std::string_view text);

}  // namespace pushwire::protocol
