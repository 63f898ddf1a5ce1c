// Finding and checking a request head. The bytes of a request are scanned for the blank
// line once each (linear however the peer splits them), and only a complete head goes to
// websocketpp's HTTP parser. What that parser lets through and RFC 9112 refuses is
// refused here with 400: a version other than HTTP/1.0 or HTTP/1.1; control characters
// (NUL, CR, LF, ...) in the target or a header value; a header name that is not a token
// up to its colon (`Content-Length : 5`, a folded line); a Content-Length that is not one
// plain number (a list "25, 5", two headers, "+25", "25abc"). Behind a proxy that reads
// such a header differently, accepting it would let a request be smuggled.
//
// Pure: no sockets. Threading: any.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace websocketpp::http::parser {
class request;
}

namespace pushwire::server {

// Where the head of the request at the start of `inbox` ends, scanning only what
// `scanned` (kept by the caller between reads) has not seen yet.
struct HeadScan {
    std::size_t scanned = 0;
    std::optional<std::size_t> find(std::string_view inbox);
};

struct RequestHead {
    std::unique_ptr<websocketpp::http::parser::request> parsed;
    std::size_t contentLength = 0;
    bool keepAlive = true;
    bool expectContinue = false;
    bool upgradeWebSocket = false;
    bool head = false;  // method HEAD: answered without a body
    RequestHead();
    ~RequestHead();
    RequestHead(RequestHead&&) noexcept;
    RequestHead& operator=(RequestHead&&) noexcept;
};

struct HeadError {
    int status;  // 400, 411, 413 or 431
    std::string message;
    // For the log, when the head could be read (411, 413): its method and path (no query).
    std::string method = {};
    std::string path = {};
};

// `head` is a whole head, up to and including its blank line.
std::variant<RequestHead, HeadError> parseRequestHead(std::string_view head, std::size_t maxBodyBytes);
// The same, with a larger body allowed (`maxBatchBodyBytes`) for a POST to `batchPath`
// whose Content-Type is application/x-ndjson (or application/ndjson): a batch publish.
std::variant<RequestHead, HeadError> parseRequestHead(std::string_view head, std::size_t maxBodyBytes,
                                                      std::size_t maxBatchBodyBytes, std::string_view batchPath);

constexpr std::size_t kMaxHeadBytes = 16000;  // as websocketpp's parser

}  // namespace pushwire::server
