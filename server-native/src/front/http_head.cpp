#include "front/http_head.hpp"

#include <strings.h>

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
    if (!parsed.get_header("Transfer-Encoding").empty()) {
        return HeadError{411, "request bodies with Transfer-Encoding are not supported; send Content-Length"};
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
        if (value > maxBodyBytes) {
            return HeadError{
                413, "the body is " + std::to_string(value) + " bytes; at most " + std::to_string(maxBodyBytes)};
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
