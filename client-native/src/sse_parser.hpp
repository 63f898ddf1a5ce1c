// The text/event-stream parser (the WHATWG HTML spec's "event stream interpretation"):
// bytes in, events out. No library packaged in Debian parses event streams (cpp-httplib
// only hands over the body's bytes), and the format is small and fully specified. Pure:
// no I/O, usable from any one thread at a time.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace pushwire::client {

struct SseEvent {
    std::string type = "message";
    std::string data;
    std::string lastEventId;  // as EventSource's: the last id seen on the stream, kept across events
};

class SseParser {
public:
    using Handler = std::function<void(const SseEvent&)>;
    // A line, and an event's data, are held up to `maxBytes` (a stream without line breaks,
    // or of endless data lines, is not let to grow without bound).
    static constexpr std::size_t kDefaultMaxBytes = 16u << 20;
    explicit SseParser(Handler handler, std::size_t maxBytes = kDefaultMaxBytes)
        : handler_(std::move(handler)), maxBytes_(maxBytes) {}
    // False once a line or an event was larger than the bound: the stream is broken, nothing
    // more is parsed.
    bool feed(std::string_view bytes);

private:
    void line(std::string_view line);

    Handler handler_;
    std::size_t maxBytes_;
    bool overflowed_ = false;
    std::string pending_;  // an unfinished line
    bool skipLf_ = false;  // the last chunk ended in CR: an LF next is that line's end
    bool firstLine_ = true;
    std::string type_;
    std::string data_;
    std::string lastEventId_;
};

}  // namespace pushwire::client
