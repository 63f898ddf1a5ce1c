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
    explicit SseParser(Handler handler) : handler_(std::move(handler)) {}
    void feed(std::string_view bytes);

private:
    void line(std::string_view line);

    Handler handler_;
    std::string pending_;  // an unfinished line
    bool skipLf_ = false;  // the last chunk ended in CR: an LF next is that line's end
    bool firstLine_ = true;
    std::string type_;
    std::string data_;
    std::string lastEventId_;
};

}  // namespace pushwire::client
