// A parsed HTTP request as the transports see it: no parser or socket types.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pushwire::server {

struct HttpRequest {
    std::string method;
    std::string target;                                        // as sent: path?query
    std::string path;                                          // percent-decoded path
    std::vector<std::pair<std::string, std::string>> query;    // decoded, in order
    std::vector<std::pair<std::string, std::string>> headers;  // names as sent
    std::string body;
    std::string peer;  // the client's address ("127.0.0.1", "::1")
    bool keepAlive = true;

    // First header with this name (case-insensitive), or "".
    std::string_view header(std::string_view name) const;
    // First query value with this key, or nullptr.
    const std::string* param(std::string_view key) const;
    // Every value of a repeatable key.
    std::vector<std::string> params(std::string_view key) const;
};

// Splits a target into path and query pairs, percent-decoding both ('+' is a space in
// the query). Returns false when an escape is malformed.
bool splitTarget(std::string_view target, std::string& path, std::vector<std::pair<std::string, std::string>>& query);

}  // namespace pushwire::server
