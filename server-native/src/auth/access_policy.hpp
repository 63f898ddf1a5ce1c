// Who may read and write what: the caller of a request is identified once, where the
// request (or WebSocket) arrives, and every subscribe and publish asks this policy.
//
//   no token key, no API key    open: anyone subscribes and publishes anywhere (the
//                               server says so at start, loudly)
//   a token key (--token-*)     callers with a valid token get its rights; everyone gets
//                               --public-subscribe / --public-publish (default: nothing)
//   an API key only             anyone subscribes (--public-subscribe, default *); the
//                               backend publishes with Authorization: ApiKey
//
// A token travels as Authorization: Bearer, a `token` query parameter (EventSource and
// WebSocket cannot set headers), a cookie (--token-cookie), or a WebSocket `auth` frame.
// The query and the cookie are ignored on a request from a page of another origin (its
// Origin is neither this server's nor in --allowed-origins; `Origin: null` included): a
// hostile page could put a token it got hold of in a URL, or ride on the user's cookie.
// An API key is never accepted from a browser: a request carrying an Origin header is
// refused with it. Without a token where one is needed: 401 unauthorized; with a token
// that does not cover the channel: 403 forbidden.
//
// A token whose lifetime passes --max-token-lifetime is refused (401 unauthorized), and
// one of a user revoked after it was issued (auth/revocations.hpp) with 401 token_revoked,
// also when it was remembered.
//
// Tokens that verified are remembered (by their exact bytes, until their exp, at most
// kVerifiedTokens of them): a long-poll client sends the same token with every request,
// and its signature is checked once, not at every request.
//
// Threading: one thread (the server's event loop); the verified-token memory is its only
// state after construction.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "auth/channel_patterns.hpp"
#include "auth/revocations.hpp"
#include "auth/token_verifier.hpp"
#include "front/http_request.hpp"
#include "pushwire/protocol/errors.hpp"
#include "pushwire/protocol/result.hpp"

namespace pushwire::server {

// Per-address limits (connections, publishes without a token) spare the two addresses a
// proxy on this machine connects from: every client behind it would share one address.
// Limit per address at the proxy. (127.0.0.2 and the rest of 127/8 are limited.)
inline bool isLoopbackPeer(std::string_view peer) {
    return peer == "127.0.0.1" || peer == "::1" || peer == "::ffff:127.0.0.1";
}

struct Caller {
    enum class Kind { Anonymous, User, Backend };
    Kind kind = Kind::Anonymous;
    std::shared_ptr<const Identity> identity;  // User
    std::int64_t expiresAtMs = 0;              // User: when the token expires
    std::int64_t issuedAt = 0;                 // User: its iat, seconds (without one: exp - lifetime)

    // The token's sub ("" for anyone else).
    const std::string& user() const;

    std::string describe() const;  // for error messages: "anonymous", "user alice", "the backend"
};

// The --publish-rate bucket a caller's publishes count in: its token's `sub`; for a
// caller without one (no token, or a token without `sub`), its address. Nullopt when the
// caller is not limited: the backend (API key), and a caller without a `sub` on loopback
// (a proxy on this machine: every client behind it would share one bucket).
std::optional<std::string> publishRateKey(const Caller& caller, std::string_view peer);

struct AccessOptions {
    std::string tokenSecret;        // HS256
    std::string tokenPublicKeyPem;  // RS256 / ES256
    std::string apiKey;
    std::string tokenCookie;
    std::optional<ChannelPatterns> publicSubscribe;  // nullopt: the default of the mode
    std::optional<ChannelPatterns> publicPublish;
    std::vector<std::string> allowedOrigins;  // empty: any origin (CORS *)
    // --max-token-lifetime: a token whose exp - iat (without iat: exp - now) is longer is
    // refused, so that a revocation can be forgotten once that long has passed.
    std::int64_t maxTokenLifetimeSeconds = 86400;
    // The users revoked (server API `revoke`); null: none. Outlives the policy.
    const Revocations* revocations = nullptr;
};

class AccessPolicy {
public:
    // Throws std::runtime_error when a key cannot be read.
    explicit AccessPolicy(AccessOptions options);

    bool open() const { return open_; }
    bool tokens() const { return verifier_ != nullptr; }
    // A sentence for the start-up log: what is open to whom.
    std::string summary() const;

    // Who sent this request. Errors: unauthorized or token_expired (a token or key was
    // given and is not good), forbidden (an API key from a browser origin).
    protocol::Result<Caller> identify(const HttpRequest& request, std::int64_t nowMs) const;
    // A token alone (the WebSocket `auth` frame). Without a token key: anonymous.
    protocol::Result<Caller> identifyToken(std::string_view token, std::int64_t nowMs) const;

    // Nullopt when allowed; else unauthorized (a token would be needed) or forbidden
    // (the caller's rights do not cover the channel).
    std::optional<protocol::Error> checkSubscribe(const Caller& caller, std::string_view channel) const;
    std::optional<protocol::Error> checkPublish(const Caller& caller, std::string_view channel) const;
    // Whether the tokens of this caller's user issued when its token was are revoked now
    // (an open connection checks it when a revocation arrives).
    bool revoked(const Caller& caller) const {
        return options_.revocations && caller.kind == Caller::Kind::User &&
               options_.revocations->revoked(caller.user(), caller.issuedAt);
    }

    // Origins: a request without Origin (not a browser) is always let through.
    bool originAllowed(std::string_view origin) const;
    // With --allowed-origins: the request comes from a browser page of another origin than
    // those listed and this server's own (`Origin: null` included). Such a page may use
    // none of the endpoints (OriginGuard answers 403 origin_not_allowed).
    bool originRefused(const HttpRequest& request) const { return restrictsOrigins() && !pageOriginTrusted(request); }
    const std::vector<std::string>& allowedOrigins() const { return options_.allowedOrigins; }
    // False without --allowed-origins: every origin may read (corsHeaders is nullopt).
    bool restrictsOrigins() const { return !options_.allowedOrigins.empty(); }
    // The CORS lines of an answer to a request from `origin` (for an origin not allowed,
    // none but Vary: the browser then keeps the answer from the page). Nullopt without
    // --allowed-origins: any origin (`Access-Control-Allow-Origin: *`), which the front
    // answers with one shared line.
    std::optional<std::string> corsHeaders(std::string_view origin) const;

private:
    // The request comes from no page (no Origin), this server's own, or an allowed one.
    bool pageOriginTrusted(const HttpRequest& request) const;
    std::optional<protocol::Error> check(const Caller& caller, std::string_view channel, bool publish) const;
    // A verified caller's exp and iat, or token_revoked.
    protocol::Result<Caller> admitted(Caller caller) const;

    AccessOptions options_;
    std::unique_ptr<TokenVerifier> verifier_;
    static constexpr std::size_t kVerifiedTokens = 4096;
    // token -> what it verified to; entries leave at their exp, and all at once when full.
    mutable std::unordered_map<std::string, std::shared_ptr<const Identity>> verified_;
    ChannelPatterns publicSubscribe_;
    ChannelPatterns publicPublish_;
    bool open_ = false;
};

}  // namespace pushwire::server
