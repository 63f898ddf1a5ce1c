// The command line's one-shot HTTP requests against a server that may misbehave: an answer
// read whole under a size cap and a deadline for the whole request (not per read: a server
// trickling a byte every few seconds is cut too), and an answer's error read without
// assuming its JSON's shape (any field of any type: a message, never a crash).
#pragma once

#include <httplib.h>

#include <chrono>
#include <cstddef>
#include <string>

namespace pushwire::cli {

struct Answer {
    int status = 0;    // 0: no complete answer, `failure` says why
    std::string body;  // at most the cap
    httplib::Headers headers;
    std::string failure;
};

// `method` ("GET" or "POST" with a JSON `body`) of `target` on `http`: the answer, or status
// 0 when none came whole within `deadline` or it was larger than `maxBytes`.
Answer fetchAnswer(httplib::Client& http, const std::string& method, const std::string& target,
                   const httplib::Headers& headers, const std::string& body, std::size_t maxBytes,
                   std::chrono::milliseconds deadline);

// "HTTP 400 code: message" of an error answer {"error":{"code","message"}}, whatever the JSON
// holds (a non-string field shown as its JSON; not JSON: its first bytes), printable.
std::string describeRefusal(int status, const std::string& body);

// `text` safe for a terminal: control characters escaped, invalid UTF-8 replaced, cut at `max`.
std::string printable(const std::string& text, std::size_t max = 200);

}  // namespace pushwire::cli
