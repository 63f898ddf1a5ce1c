#include "front/http_head.hpp"

#include <strings.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <websocketpp/http/request.hpp>

namespace pushwire::server {

namespace {

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
    return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// Control characters other than HTAB, and DEL.
bool hasControl(std::string_view text) {
    for (char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if ((byte < 0x20 && byte != '\t') || byte == 0x7f) return true;
    }
    return false;
}

bool containsToken(std::string_view list, std::string_view token) {
    std::size_t start = 0;
    while (start <= list.size()) {
        std::size_t comma = list.find(',', start);
        if (comma == std::string_view::npos) comma = list.size();
        std::string_view item = list.substr(start, comma - start);
        while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
        while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
        if (equalsIgnoreCase(item, token)) return true;
        start = comma + 1;
    }
    return false;
}

// RFC 9110 §5.6.2: a header name is a token.
bool isTokenChar(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    switch (c) {
        case '!':
        case '#':
        case '$':
        case '%':
        case '&':
        case '\'':
        case '*':
        case '+':
        case '-':
        case '.':
        case '^':
        case '_':
        case '`':
        case '|':
        case '~': return true;
        default: return false;
    }
}

// The header lines' names, as sent (the parser trims what it reads, so `Content-Length : 5`
// would reach us as Content-Length): each must be a token right up to its colon (RFC 9112
// §5.1: whitespace before the colon is a 400), and no line may continue the one before
// (obs-fold, §5.2). A proxy that reads such a header differently would let a request be
// smuggled past it.
std::optional<std::string> headerNameProblem(std::string_view head) {
    std::size_t start = head.find("\r\n");
    while (start != std::string_view::npos) {
        start += 2;
        const std::size_t end = head.find("\r\n", start);
        if (end == std::string_view::npos || end == start) return std::nullopt;  // the blank line
        const std::string_view line = head.substr(start, end - start);
        const std::size_t colon = line.find(':');
        const std::string_view name = line.substr(0, colon);
        std::size_t bad = 0;
        while (bad < name.size() && isTokenChar(name[bad])) ++bad;
        if (colon == std::string_view::npos || name.empty() || bad < name.size()) {
            std::string shown(name.substr(0, 64));
            for (char& c : shown) {
                if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
            }
            if (colon == std::string_view::npos) return "a header line has no colon: '" + shown + "'";
            if (name.empty()) return std::string("a header line has no name before its colon");
            const char what = name[bad];
            if (what == ' ' || what == '\t') {
                return "header '" + shown + "' has whitespace " + (bad == 0 ? "before its name" : "before its colon") +
                       " (RFC 9112 section 5.1 forbids it)";
            }
            return "header name '" + shown + "' holds a character a header name may not have";
        }
        start = end;
    }
    return std::nullopt;
}

}  // namespace

std::optional<std::size_t> HeadScan::find(std::string_view inbox) {
    // Back three bytes: the blank line may have been split across reads.
    const std::size_t from = scanned > 3 ? scanned - 3 : 0;
    const std::size_t at = inbox.find("\r\n\r\n", from);
    if (at == std::string_view::npos) {
        scanned = inbox.size();
        return std::nullopt;
    }
    scanned = 0;
    return at + 4;
}

RequestHead::RequestHead() = default;
RequestHead::~RequestHead() = default;
RequestHead::RequestHead(RequestHead&&) noexcept = default;
RequestHead& RequestHead::operator=(RequestHead&&) noexcept = default;

std::variant<RequestHead, HeadError> parseRequestHead(std::string_view head, std::size_t maxBodyBytes) {
    return parseRequestHead(head, maxBodyBytes, 0, {});
}

std::variant<RequestHead, HeadError> parseRequestHead(std::string_view head, std::size_t maxBodyBytes,
                                                      std::size_t maxBatchBodyBytes, std::string_view batchPath) {
    if (auto problem = headerNameProblem(head)) return HeadError{400, "malformed HTTP request: " + *problem};
    RequestHead out;
    out.parsed = std::make_unique<websocketpp::http::parser::request>();
    websocketpp::http::parser::request& parsed = *out.parsed;
    // Lengths are checked below, strictly; the parser's own check reads "25abc" as 25.
    parsed.set_max_body_size(std::numeric_limits<std::size_t>::max());
    try {
        parsed.consume(head.data(), head.size());
    } catch (const websocketpp::http::exception& e) {
        const int status = static_cast<int>(e.m_error_code);
        return HeadError{status == 431 ? 431 : 400, "malformed HTTP request: " + e.m_msg};
    }
    const std::string& version = parsed.get_version();
    if (version != "HTTP/1.1" && version != "HTTP/1.0") {
        return HeadError{400, "unsupported HTTP version '" + version.substr(0, 32) + "'; expected HTTP/1.1"};
    }
    if (hasControl(parsed.get_uri()) || parsed.get_uri().empty()) {
        return HeadError{400, "the request target is empty or holds control characters"};
    }
    for (const auto& [name, value] : parsed.get_headers()) {
        if (hasControl(value)) {
            return HeadError{400, "header " + name.substr(0, 64) + " holds a control character (NUL, CR, LF...)"};
        }
    }
    // A refusal of a head that could be read names its method and path in the log.
    auto named = [&parsed](HeadError error) {
        error.method = parsed.get_method().substr(0, 15);
        const std::string& uri = parsed.get_uri();
        error.path = uri.substr(0, std::min<std::size_t>(uri.find('?'), 200));
        return error;
    };
    if (!parsed.get_header("Transfer-Encoding").empty()) {
        return named(HeadError{411, "request bodies with Transfer-Encoding are not supported; send Content-Length"});
    }
    const std::string& length = parsed.get_header("Content-Length");
    if (!length.empty()) {
        // Several Content-Length headers arrive joined with ", ": not digits either.
        std::uint64_t value = 0;
        auto [ptr, ec] = std::from_chars(length.data(), length.data() + length.size(), value);
        if (length.size() > 19 || ec != std::errc() || ptr != length.data() + length.size() || length[0] == '+' ||
            length[0] == '-') {
            return HeadError{400, "Content-Length '" + length.substr(0, 40) + "' is not one whole number"};
        }
        std::size_t limit = maxBodyBytes;
        if (maxBatchBodyBytes > maxBodyBytes && parsed.get_method() == "POST") {
            const std::string& uri = parsed.get_uri();
            const std::string_view path = std::string_view(uri).substr(0, uri.find('?'));
            std::string_view type = parsed.get_header("Content-Type");
            type = type.substr(0, type.find(';'));
            while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
            if (path == batchPath &&
                (equalsIgnoreCase(type, "application/x-ndjson") || equalsIgnoreCase(type, "application/ndjson"))) {
                limit = maxBatchBodyBytes;
            }
        }
        if (value > limit) {
            return named(HeadError{
                413, "the body is " + std::to_string(value) + " bytes; at most " + std::to_string(limit) +
                         (limit == maxBodyBytes ? " (--max-message-bytes of data plus 1 KiB for the rest of the body)"
                                                : " for a batch (--max-batch-bytes)")});
        }
        out.contentLength = static_cast<std::size_t>(value);
    }
    const std::string& connection = parsed.get_header("Connection");
    out.keepAlive =
        version == "HTTP/1.1" ? !containsToken(connection, "close") : containsToken(connection, "keep-alive");
    out.expectContinue = equalsIgnoreCase(parsed.get_header("Expect"), "100-continue");
    out.upgradeWebSocket = equalsIgnoreCase(parsed.get_header("Upgrade"), "websocket");
    out.head = parsed.get_method() == "HEAD";
    return out;
}

}  // namespace pushwire::server
