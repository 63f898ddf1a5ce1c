// Refuses requests from browser pages of an origin that may not use the server
// (--allowed-origins), before any endpoint sees them, and tells both sides why:
//   - the page: 403 {"error":{"code":"origin_not_allowed",...}} with the CORS lines that
//     let that one answer be read (Access-Control-Allow-Origin: the page's origin), so that
//     the SDK can tell "origin refused" from "server unreachable";
//   - the operator: a `warn` line naming the origin and the flag to set, at most once a
//     minute per origin (with the count refused since the last line), for at most
//     kRemembered origins at a time: a flood of made-up origins costs bounded memory and
//     lines.
// A request without Origin (not a browser page), from the server's own origin, or from a
// listed one goes through. Without --allowed-origins every origin may use the server.
//
// Threading: the loop thread.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include "auth/access_policy.hpp"
#include "front/http_connection.hpp"
#include "transports/metrics.hpp"

namespace pushwire::server {

class OriginGuard {
public:
    static constexpr std::size_t kRemembered = 1024;
    static constexpr std::int64_t kLogEveryMs = 60000;

    OriginGuard(const AccessPolicy& access, Metrics& metrics) : access_(access), metrics_(metrics) {}

    // True when the request was refused (and answered).
    bool refuse(const HttpRequest& request, HttpConnection& connection, std::int64_t nowMs);

private:
    void logRefusal(const HttpRequest& request, std::string_view origin, std::int64_t nowMs);

    struct Seen {
        std::int64_t loggedAtMs = 0;
        std::uint64_t since = 0;  // refused since that line
    };
    const AccessPolicy& access_;
    Metrics& metrics_;
    std::unordered_map<std::string, Seen> seen_;
    std::uint64_t unlogged_ = 0;  // refusals of origins the full table had no room for
    std::int64_t unloggedAtMs_ = 0;
};

}  // namespace pushwire::server
