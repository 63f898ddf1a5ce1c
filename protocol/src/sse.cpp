#include "pushwire/protocol/sse.hpp"

namespace pushwire::protocol {

void appendSseEvent(std::string& out, std::string_view event, std::string_view id, std::string_view data) {
    if (!event.empty()) {
        out += "event: ";
        out += event;
        out += '\n';
    }
    if (!id.empty()) {
        out += "id: ";
        out += id;
        out += '\n';
    }
    // Any of CRLF, CR, LF ends a line in an event stream: split on each. (A loop by hand:
    // find_first_of would call memchr on the set for every character.)
    auto lineEnd = [&data](std::size_t from) {
        for (std::size_t i = from; i < data.size(); ++i) {
            if (data[i] == '\r' || data[i] == '\n') return i;
        }
        return std::string_view::npos;
    };
    std::size_t start = 0;
    while (true) {
        std::size_t end = lineEnd(start);
        out += "data: ";
        out += data.substr(start, end == std::string_view::npos ? end : end - start);
        out += '\n';
        if (end == std::string_view::npos) break;
        start = end + ((data[end] == '\r' && end + 1 < data.size() && data[end + 1] == '\n') ? 2 : 1);
    }
    out += '\n';
}

std::string sseEvent(std::string_view event, std::string_view id, std::string_view data) {
    std::string out;
    out.reserve(event.size() + id.size() + data.size() + 24);
    appendSseEvent(out, event, id, data);
    return out;
}

std::string sseComment(std::string_view text) { return ": " + std::string(text) + "\n\n"; }

std::string sseRetry(int ms) { return "retry: " + std::to_string(ms) + "\n\n"; }

}  // namespace pushwire::protocol
