#include "sse_parser.hpp"

namespace pushwire::client {

bool SseParser::feed(std::string_view bytes) {
    if (overflowed_) return false;
    for (char c : bytes) {
        if (skipLf_) {
            skipLf_ = false;
            if (c == '\n') continue;
        }
        if (c == '\r' || c == '\n') {
            skipLf_ = c == '\r';
            line(pending_);
            pending_.clear();
            if (data_.size() > maxBytes_) overflowed_ = true;
        } else {
            pending_ += c;
            if (pending_.size() > maxBytes_) overflowed_ = true;
        }
        if (overflowed_) {
            pending_.clear();
            pending_.shrink_to_fit();
            data_.clear();
            data_.shrink_to_fit();
            return false;
        }
    }
    return true;
}

void SseParser::line(std::string_view text) {
    if (firstLine_) {
        firstLine_ = false;
        if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // a byte order mark
    }
    if (text.empty()) {
        // Dispatch: nothing without data, as EventSource.
        if (!data_.empty()) {
            data_.pop_back();  // the last line break
            SseEvent event;
            if (!type_.empty()) event.type = type_;
            event.data = std::move(data_);
            event.lastEventId = lastEventId_;
            handler_(event);
        }
        data_.clear();
        type_.clear();
        return;
    }
    if (text.front() == ':') return;  // a comment
    std::string_view field = text, value;
    if (std::size_t colon = text.find(':'); colon != std::string_view::npos) {
        field = text.substr(0, colon);
        value = text.substr(colon + 1);
        if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    }
    if (field == "event") {
        type_ = std::string(value);
    } else if (field == "data") {
        data_.append(value);
        data_ += '\n';
    } else if (field == "id") {
        if (value.find('\0') == std::string_view::npos) lastEventId_ = std::string(value);
    }
    // "retry" and unknown fields: the core owns reconnection; ignored.
}

}  // namespace pushwire::client
