#include "auth/access_policy.hpp"

#include <openssl/crypto.h>
#include <strings.h>

namespace pushwire::server {

using protocol::Error;
using protocol::ErrorCode;

namespace {

bool startsWithIgnoreCase(std::string_view text, std::string_view prefix) {
    return text.size() >= prefix.size() && strncasecmp(text.data(), prefix.data(), prefix.size()) == 0;
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

std::optional<std::string_view> cookie(std::string_view header, std::string_view name) {
    std::size_t start = 0;
    while (start < header.size()) {
        std::size_t end = header.find(';', start);
        if (end == std::string_view::npos) end = header.size();
        std::string_view pair = trim(header.substr(start, end - start));
        if (auto eq = pair.find('='); eq != std::string_view::npos && pair.substr(0, eq) == name) {
            return pair.substr(eq + 1);
        }
        start = end + 1;
    }
    return std::nullopt;
}

}  // namespace

std::string Caller::describe() const {
    switch (kind) {
        case Kind::Anonymous: return "a caller without a token";
        case Kind::Backend: return "the backend";
        case Kind::User:
            return identity && !identity->subject.empty() ? "user '" + identity->subject + "'" : "this token";
    }
    return "?";
}

const std::string& Caller::user() const {
    static const std::string none;
    return kind == Kind::User && identity ? identity->subject : none;
}

std::optional<std::string> publishRateKey(const Caller& caller, std::string_view peer) {
    if (caller.kind == Caller::Kind::Backend) return std::nullopt;
    if (caller.kind == Caller::Kind::User && caller.identity && !caller.identity->subject.empty()) {
        return "sub:" + caller.identity->subject;
    }
    if (isLoopbackPeer(peer)) return std::nullopt;
    return "ip:" + std::string(peer);
}

AccessPolicy::AccessPolicy(AccessOptions options) : options_(std::move(options)) {
    if (!options_.tokenSecret.empty() || !options_.tokenPublicKeyPem.empty()) {
        verifier_ = std::make_unique<TokenVerifier>(options_.tokenSecret, options_.tokenPublicKeyPem);
    }
    open_ = !verifier_ && options_.apiKey.empty();
    std::string ignored;
    if (options_.publicSubscribe) {
        publicSubscribe_ = *options_.publicSubscribe;
    } else if (!verifier_) {
        publicSubscribe_ = *ChannelPatterns::parse("*", &ignored);  // open, or an API key only
    }
    if (options_.publicPublish) {
        publicPublish_ = *options_.publicPublish;
    } else if (open_) {
        publicPublish_ = *ChannelPatterns::parse("*", &ignored);
    }
}

std::string AccessPolicy::summary() const {
    if (open_) {
        return "OPEN: no --token-secret-file, --token-public-key-file or --api-key-file: anyone who can reach "
               "this server subscribes to and publishes on every channel";
    }
    std::string out = verifier_ ? "tokens (" + verifier_->accepted() + ")" : std::string("no tokens");
    out += options_.apiKey.empty() ? "" : ", an API key for the backend";
    auto list = [](const ChannelPatterns& patterns) {
        if (patterns.empty()) return std::string("nothing");
        std::string text;
        for (const auto& p : patterns.patterns()) text += (text.empty() ? "" : ",") + p;
        return text;
    };
    out += "; without a token: subscribe " + list(publicSubscribe_) + ", publish " + list(publicPublish_);
    return out;
}

protocol::Result<Caller> AccessPolicy::identifyToken(std::string_view token, std::int64_t nowMs) const {
    // A server with no token key cannot tell a token from noise: the caller is as anyone
    // else (everything, when the server is open).
    if (!verifier_) return Caller{};
    const std::int64_t now = nowMs / 1000;
    Caller caller;
    caller.kind = Caller::Kind::User;
    if (auto known = verified_.find(std::string(token)); known != verified_.end()) {
        // Verified before: the signature, nbf/iat and lifetime cannot have changed; exp
        // is checked again (past it, verify() says token_expired and the entry goes).
        if (now < known->second->expiresAt) {
            caller.identity = known->second;
            return admitted(std::move(caller));
        }
        verified_.erase(known);
    }
    auto identity = verifier_->verify(token, now);
    if (!identity) return identity.error();
    const std::int64_t lifetime = identity->expiresAt - identity->issuedAt.value_or(now);
    if (lifetime > options_.maxTokenLifetimeSeconds) {
        return Error{ErrorCode::Unauthorized,
                     "the token lives " + std::to_string(lifetime) + " s (exp - " +
                         (identity->issuedAt ? "iat" : "now, as it has no iat") + "); this server accepts at most " +
                         std::to_string(options_.maxTokenLifetimeSeconds) + " s (--max-token-lifetime)"};
    }
    caller.identity = std::make_shared<const Identity>(std::move(identity.value()));
    if (verified_.size() >= kVerifiedTokens) verified_.clear();
    verified_.emplace(std::string(token), caller.identity);
    return admitted(std::move(caller));
}

protocol::Result<Caller> AccessPolicy::admitted(Caller caller) const {
    const Identity& identity = *caller.identity;
    caller.expiresAtMs = identity.expiresAt * 1000;
    caller.issuedAt = identity.issuedAt ? *identity.issuedAt : identity.expiresAt - options_.maxTokenLifetimeSeconds;
    if (options_.revocations && !identity.subject.empty() &&
        options_.revocations->revoked(identity.subject, caller.issuedAt)) {
        return Error{ErrorCode::TokenRevoked, "the tokens of user '" + identity.subject + "' issued before " +
                                                  std::to_string(options_.revocations->before(identity.subject)) +
                                                  " were revoked; get a new one"};
    }
    return caller;
}

protocol::Result<Caller> AccessPolicy::identify(const HttpRequest& request, std::int64_t nowMs) const {
    std::string_view authorization = trim(request.header("Authorization"));
    if (startsWithIgnoreCase(authorization, "ApiKey ")) {
        if (!request.header("Origin").empty()) {
            return Error{ErrorCode::Forbidden,
                         "an API key is never accepted from a browser (the request has an Origin)"};
        }
        std::string_view key = trim(authorization.substr(7));
        if (options_.apiKey.empty() || key.size() != options_.apiKey.size() ||
            CRYPTO_memcmp(key.data(), options_.apiKey.data(), key.size()) != 0) {
            return Error{ErrorCode::Unauthorized, "the API key is not this server's"};
        }
        return Caller{Caller::Kind::Backend, nullptr, 0};
    }
    if (startsWithIgnoreCase(authorization, "Bearer ")) return identifyToken(trim(authorization.substr(7)), nowMs);
    if (!authorization.empty()) {
        return Error{ErrorCode::Unauthorized, "Authorization must be 'Bearer <token>' or 'ApiKey <key>'"};
    }
    // A token in the URL or a cookie counts only from a page this server trusts.
    if (!pageOriginTrusted(request)) return Caller{};
    if (const std::string* token = request.param("token")) return identifyToken(*token, nowMs);
    if (!options_.tokenCookie.empty()) {
        if (auto value = cookie(request.header("Cookie"), options_.tokenCookie)) return identifyToken(*value, nowMs);
    }
    return Caller{};
}

std::optional<Error> AccessPolicy::check(const Caller& caller, std::string_view channel, bool publish) const {
    if (open_ || caller.kind == Caller::Kind::Backend) return std::nullopt;
    const ChannelPatterns& open = publish ? publicPublish_ : publicSubscribe_;
    if (open.matches(channel)) return std::nullopt;
    const char* verb = publish ? "publish on" : "subscribe to";
    if (caller.kind == Caller::Kind::Anonymous) {
        return Error{ErrorCode::Unauthorized,
                     std::string("a token is needed to ") + verb + " '" + std::string(channel) + "'"};
    }
    const ChannelPatterns& rights = publish ? caller.identity->publish : caller.identity->subscribe;
    if (rights.matches(channel)) return std::nullopt;
    return Error{ErrorCode::Forbidden, caller.describe() + " may not " + verb + " '" + std::string(channel) +
                                           "' (the token's " + (publish ? "publish" : "subscribe") +
                                           " rights do not cover it)"};
}

std::optional<Error> AccessPolicy::checkSubscribe(const Caller& caller, std::string_view channel) const {
    return check(caller, channel, false);
}

std::optional<Error> AccessPolicy::checkPublish(const Caller& caller, std::string_view channel) const {
    return check(caller, channel, true);
}

// A browser sends cookies with a cross-site page's WebSocket and form posts too (CSRF,
// cross-site WebSocket hijacking), and a hostile page may put a token it got hold of in a
// URL: a cookie or a query token counts only from the page's own origin, an origin of
// --allowed-origins, or a client that sends no Origin (not a browser page). `Origin: null`
// (a sandboxed frame, a file) is no origin of ours.
bool AccessPolicy::pageOriginTrusted(const HttpRequest& request) const {
    std::string_view origin = request.header("Origin");
    if (origin.empty()) return true;
    if (!options_.allowedOrigins.empty() && originAllowed(origin)) return true;
    for (std::string_view scheme : {"https://", "http://"}) {
        if (startsWithIgnoreCase(origin, scheme)) {
            std::string_view host = origin.substr(scheme.size());
            std::string_view expected = request.header("Host");
            return !host.empty() && host.size() == expected.size() &&
                   strncasecmp(host.data(), expected.data(), host.size()) == 0;
        }
    }
    return false;
}

bool AccessPolicy::originAllowed(std::string_view origin) const {
    if (origin.empty() || options_.allowedOrigins.empty()) return true;
    for (const std::string& allowed : options_.allowedOrigins) {
        if (allowed.size() == origin.size() && strncasecmp(allowed.data(), origin.data(), origin.size()) == 0) {
            return true;
        }
    }
    return false;
}

std::optional<std::string> AccessPolicy::corsHeaders(std::string_view origin) const {
    if (options_.allowedOrigins.empty()) return std::nullopt;
    if (origin.empty() || !originAllowed(origin)) return "Vary: Origin\r\n";
    return "Access-Control-Allow-Origin: " + std::string(origin) +
           "\r\nAccess-Control-Allow-Credentials: true\r\nVary: Origin\r\n";
}

}  // namespace pushwire::server
