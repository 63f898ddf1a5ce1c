// Server-Sent Events framing (text/event-stream), per the WHATWG HTML spec.
#pragma once

#include <string>
#include <string_view>

namespace pushwire::protocol {

// Appends one event. Empty `event` or `id` omit those fields. Data with line breaks is
// split into several data: lines, so any string round-trips through an EventSource.
void appendSseEvent(std::string& out, std::string_view event, std::string_view id, std::string_view data);
std::string sseEvent(std::string_view event, std::string_view id, std::string_view data);

// ": text\n\n" - a comment; keeps proxies from timing out an idle stream.
std::string sseComment(std::string_view text);

// "retry: ms\n\n"
std::string sseRetry(int ms);

}  // namespace pushwire::protocol
