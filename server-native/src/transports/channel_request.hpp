// Reading "which channels, from where" out of an HTTP request, and building the answer
// of the two polling transports. Shared by poll, long-poll and SSE.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "front/http_request.hpp"
#include "hub/hub.hpp"
#include "pushwire/protocol/cursor.hpp"
#include "pushwire/protocol/result.hpp"
#include "transports/context.hpp"

namespace pushwire::server {

struct ChannelRequest {
    std::vector<std::string> channels;
    std::optional<protocol::Cursor> cursor;
};

// channel=NAME (repeatable) and channels=A,B; since=CURSOR. With `lastEventId`, the
// Last-Event-ID header or the last_event_id parameter wins over since (it is newer:
// EventSource sends it when it reconnects to the same URL).
protocol::Result<ChannelRequest> readChannelRequest(const HttpRequest& request, const Settings& settings,
                                                    bool lastEventId);

class HttpConnection;

// readChannelRequest, answering the client's error (and counting it) when it fails.
std::optional<ChannelRequest> readChannelRequestOrAnswer(Context& context, const HttpRequest& request,
                                                         HttpConnection& connection, bool lastEventId);

// Messages and gaps after each start point, up to `limit` messages and about `maxBytes`
// of them (at least one), and the positions reached. Moves each start point forward past
// what it collected.
struct Batch {
    std::vector<MessagePtr> messages;
    std::vector<protocol::Gap> gaps;
    bool more = false;  // a limit was reached; ask again at once
    bool empty() const { return messages.empty() && gaps.empty(); }
};
Batch collectBatch(const Hub& hub, std::vector<StartPoint>& points, std::size_t limit, std::size_t maxBytes);

// The cursor of these positions (protocol::encodeCursor).
std::string cursorText(const std::vector<StartPoint>& points);

// Start points for a request, answering bad_cursor (and counting it) when the cursor does
// not fit the channels.
std::optional<std::vector<StartPoint>> resolveOrAnswer(Context& context, const ChannelRequest& request,
                                                       HttpConnection& connection);

// {"messages":[...],"gaps":[...],"cursor":"...","more":false}
std::string encodeBatch(const Batch& batch, const std::string& cursor);

// Answers a poll or long-poll with `batch`, counting its deliveries and gaps.
void respondBatch(Context& context, TransportKind kind, const Batch& batch, const std::vector<StartPoint>& points,
                  HttpConnection& connection);
// The same for a request answered at once: also one short-lived subscriber of `kind`.
void answerBatch(Context& context, TransportKind kind, const Batch& batch, const std::vector<StartPoint>& points,
                 HttpConnection& connection);

}  // namespace pushwire::server
