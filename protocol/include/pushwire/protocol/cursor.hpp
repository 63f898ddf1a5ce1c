// Resume positions ("cursors"). One text format serves every transport: the `since`
// query parameter, the SSE `id:` field (and so Last-Event-ID), the poll responses and
// the WebSocket frames.
//
//   cursor = [ epoch "~" ] body
//   body   = seq                          a bare seq: every channel of the request
//          / entry *( "," entry )         every entry named, or none
//   entry  = [ channel ] "@" seq [ "." epoch ]
//
//   3f2a9c01d4e5b6a7~chat@42,news@7       named: after 42 of chat and 7 of news
//   3f2a9c01d4e5b6a7~@42,@7.0badc0de      by place: the i-th entry is the request's i-th
//                                         channel (what the server sends when names would
//                                         make it long: any client can send it back)
//
// A position belongs to one channel's stream, whose life is its epoch: an entry's own
// epoch, else the leading one, else none (a client that did not say is trusted to mean
// the current life). A channel absent from the cursor starts at "now".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pushwire/protocol/result.hpp"

namespace pushwire::protocol {

struct StreamPosition {
    std::uint64_t seq = 0;
    std::string epoch;  // empty: not said
};

struct Cursor {
    std::string epoch;                 // the leading epoch; empty when absent
    std::optional<std::uint64_t> all;  // the bare seq form
    std::vector<std::pair<std::string, StreamPosition>> named;
    std::vector<StreamPosition> byIndex;  // the positional form
};

constexpr std::size_t kMaxCursorLength = 16384;
// Above this many bytes the named form gives way to the positional one, so a cursor
// stays small enough for any header or URL whatever the number of channels.
constexpr std::size_t kNamedCursorLimit = 512;

Result<Cursor> parseCursor(std::string_view text);

// The position of each of `channels` (a request's, in its order): nullopt where the
// cursor does not name it. Epochs are resolved (entry, else leading). Fails with
// bad_cursor when a positional cursor does not have one entry per channel. Linear.
Result<std::vector<std::optional<StreamPosition>>> positionsFor(const Cursor& cursor,
                                                                const std::vector<std::string>& channels);

// One channel's place in a cursor being built.
struct ChannelPosition {
    std::string_view channel;
    std::uint64_t seq = 0;
    std::string_view epoch;
};
// Named when that fits kNamedCursorLimit (or always, when `byPlace` is false: the
// positions are not the request's channels in order), positional otherwise; the first
// entry's epoch leads and the others carry theirs only where it differs.
std::string encodeCursor(const std::vector<ChannelPosition>& positions, bool byPlace = true);
// The same for one channel, on hot paths: epoch~channel@seq.
void appendSingleCursor(std::string& out, std::string_view epoch, std::string_view channel, std::uint64_t seq);

std::string formatCursor(const Cursor& cursor);

bool isValidEpoch(std::string_view epoch);

}  // namespace pushwire::protocol
