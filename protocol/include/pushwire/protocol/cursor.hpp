// Resume positions ("cursors"). One text format serves every transport: the `since`
// query parameter, the SSE `id:` field (and so Last-Event-ID), the poll responses and
// the WebSocket frames.
//
//   cursor = [ epoch "~" ] ( seq / entry *( "," entry ) )
//   entry  = channel "@" seq          e.g.  3f2a9c01d4e5b6a7~chat@42,news@7
//
// A bare seq applies to every channel of the request. A channel absent from the cursor
// starts at "now". The epoch names the server's life: a cursor from another epoch refers
// to history the server no longer has.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pushwire/protocol/result.hpp"

namespace pushwire::protocol {

struct Cursor {
    std::string epoch;                 // empty: the client did not say (trusted as current)
    std::optional<std::uint64_t> all;  // bare seq form
    std::vector<std::pair<std::string, std::uint64_t>> positions;

    // Position for a channel: the entry, else the bare seq, else nullopt ("now").
    std::optional<std::uint64_t> positionOf(std::string_view channel) const;
};

constexpr std::size_t kMaxCursorLength = 16384;

Result<Cursor> parseCursor(std::string_view text);
std::string formatCursor(const Cursor& cursor);

// Appends "channel@seq" entries; used on hot paths to avoid building a Cursor.
void appendCursorEntry(std::string& out, std::string_view channel, std::uint64_t seq);

bool isValidEpoch(std::string_view epoch);

}  // namespace pushwire::protocol
