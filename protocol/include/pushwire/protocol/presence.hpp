// Presence on the wire (docs/protocol.md, Presence): a member, the join and leave entries
// of a channel's stream, and the answers to presence queries.
//
//   member  {"client":"<32 hex>","user":"<sub or empty>","info":<JSON or null>}
//   entry   {"channel":"room","seq":17,"event":"join","member":{...},"time":<ms>}
//
// A join/leave entry takes a seq of the channel's stream like a message and travels
// where messages do (its `event` field tells it apart; it has no `data`).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pushwire::protocol {

struct Member {
    std::string client;
    std::string user;
    std::string infoJson = "null";  // serialized JSON
};

std::string encodeMember(const Member& member);

enum class EntryEvent { Message, Join, Leave };
// "join", "leave" ("message" for a message).
std::string_view entryEventName(EntryEvent event);

// {"channel":..,"seq":..,"event":"join"|"leave","member":<memberJson>,"time":..}
std::string encodeJoinLeaveEntry(std::string_view channel, std::uint64_t seq, EntryEvent event,
                                 std::string_view memberJson, std::int64_t timeMs);
// What a serialized stream entry is: a message, or a join or leave (from the field after
// its seq; entries are written by encodeEnvelope or encodeJoinLeaveEntry).
EntryEvent entryEventOf(std::string_view entryJson);

// Presence answers. `membersJson`: the members, each encodeMember()'d, joined by commas.
// `idJson` empty: no id (HTTP).
std::string encodePresenceAnswer(std::string_view type, std::string_view idJson, std::string_view channel,
                                 std::string_view membersJson, std::string_view position, bool truncated);
std::string encodePresenceStatsAnswer(std::string_view type, std::string_view idJson, std::string_view channel,
                                      std::uint64_t clients, std::uint64_t users);

}  // namespace pushwire::protocol
