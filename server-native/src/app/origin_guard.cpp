#include "app/origin_guard.hpp"

#include "front/log.hpp"
#include "pushwire/protocol/errors.hpp"

namespace pushwire::server {

namespace {

// An origin fit to be sent back in a header: visible ASCII, not too long. Anything else
// (which no browser sends) is refused without the CORS lines.
bool headerSafe(std::string_view origin) {
    if (origin.empty() || origin.size() > 200) return false;
    for (unsigned char c : origin) {
        if (c <= ' ' || c >= 0x7f) return false;
    }
    return true;
}

std::string listed(const AccessPolicy& access) {
    std::string out;
    for (const std::string& origin : access.allowedOrigins()) out += (out.empty() ? "" : ",") + origin;
    return out;
}

}  // namespace

bool OriginGuard::refuse(const HttpRequest& request, HttpConnection& connection, std::int64_t nowMs) {
    if (!access_.originRefused(request)) return false;
    const std::string_view origin = request.header("Origin");
    logRefusal(request, origin, nowMs);
    metrics_.refused(protocol::ErrorCode::OriginNotAllowed);
    ++metrics_.errors;
    // The page may read this answer (and only this one): it says nothing but the refusal,
    // and the request did nothing.
    std::string cors;
    if (headerSafe(origin)) {
        cors = "Access-Control-Allow-Origin: " + std::string(origin) + "\r\nAccess-Control-Allow-Credentials: true\r\n";
    }
    const std::string shown(origin.substr(0, 200));
    connection.respond(
        403, "application/json",
        protocol::errorBody(
            protocol::ErrorCode::OriginNotAllowed,
            "pages of origin '" + shown + "' may not use this server: its operator must add it to --allowed-origins"),
        cors);
    return true;
}

void OriginGuard::logRefusal(const HttpRequest& request, std::string_view origin, std::int64_t nowMs) {
    const std::string key(origin.substr(0, 200));
    auto it = seen_.find(key);
    if (it == seen_.end()) {
        if (seen_.size() >= kRemembered) {
            for (auto old = seen_.begin(); old != seen_.end();) {
                old = nowMs - old->second.loggedAtMs >= kLogEveryMs ? seen_.erase(old) : std::next(old);
            }
        }
        if (seen_.size() >= kRemembered) {
            // Too many origins at once (made up, most likely): one line a minute for them all.
            ++unlogged_;
            if (nowMs - unloggedAtMs_ >= kLogEveryMs) {
                log::write(log::Level::Warn, "origin_refused",
                           {{"origin", "(" + std::to_string(kRemembered) + " others already named this minute)"},
                            log::num("refused", static_cast<long long>(unlogged_)),
                            {"hint", "add the origins of your pages to --allowed-origins"}});
                unloggedAtMs_ = nowMs;
                unlogged_ = 0;
            }
            return;
        }
        it = seen_.emplace(key, Seen{nowMs - kLogEveryMs, 0}).first;
    }
    Seen& seen = it->second;
    ++seen.since;
    if (nowMs - seen.loggedAtMs < kLogEveryMs) return;
    log::write(log::Level::Warn, "origin_refused",
               {{"origin", key},
                {"path", request.path},
                {"peer", request.peer},
                log::num("refused", static_cast<long long>(seen.since)),
                {"hint", "a page of this origin was refused; if it is yours, add it to --allowed-origins (now: " +
                             listed(access_) + ")"}});
    seen.loggedAtMs = nowMs;
    seen.since = 0;
}

}  // namespace pushwire::server
