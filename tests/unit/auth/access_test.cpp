#include <catch2/catch.hpp>

#include "auth/access_policy.hpp"
#include "auth/channel_patterns.hpp"
#include "auth/rate_limiter.hpp"
#include "support/token_minter.hpp"

namespace access_test {

using namespace pushwire::server;
using namespace pushwire::testing;
using nlohmann::json;
using pushwire::protocol::ErrorCode;

namespace {

const std::string& kSecret = kTestSecret;
const std::string kApiKey = "backend-key-0123456789";

ChannelPatterns patterns(const std::string& text) {
    std::string problem;
    auto out = ChannelPatterns::parse(text, &problem);
    REQUIRE(out);
    return *out;
}

HttpRequest request(std::vector<std::pair<std::string, std::string>> headers,
                    std::vector<std::pair<std::string, std::string>> query = {}) {
    HttpRequest out;
    out.method = "GET";
    out.path = "/pushwire/sse";
    out.headers = std::move(headers);
    out.query = std::move(query);
    out.peer = "192.0.2.7";
    return out;
}

std::int64_t nowMs() { return unixNow() * 1000; }

std::string aliceToken() { return mintHs256(kSecret, aliceClaims(unixNow() + 600)); }

}  // namespace

TEST_CASE("channel patterns: exact names and * as a wildcard, nothing else") {
    CHECK(patternMatches("user:42", "user:42"));
    CHECK_FALSE(patternMatches("user:42", "user:420"));
    CHECK(patternMatches("chat:*", "chat:room"));
    CHECK(patternMatches("chat:*", "chat:"));
    CHECK_FALSE(patternMatches("chat:*", "chatroom"));
    CHECK(patternMatches("*:public", "news:public"));
    CHECK_FALSE(patternMatches("*:public", "news:publicity"));
    CHECK(patternMatches("*", "anything.at-all"));
    CHECK(patternMatches("a*b*c", "aXXbYYc"));
    CHECK_FALSE(patternMatches("a*b*c", "aXXbYY"));
    std::string problem;
    CHECK_FALSE(ChannelPatterns::parse("chat room", &problem));
    CHECK(problem.find("space") != std::string::npos);
    CHECK_FALSE(ChannelPatterns::parse("chat:*,user/1", &problem));
    auto list = patterns(" chat:* , user:1 ");
    CHECK(list.patterns() == std::vector<std::string>{"chat:*", "user:1"});
}

TEST_CASE("a server without keys is open: anyone reads and writes every channel") {
    AccessPolicy policy(AccessOptions{});
    CHECK(policy.open());
    CHECK(policy.summary().find("OPEN") == 0);
    auto caller = policy.identify(request({}), nowMs());
    REQUIRE(caller);
    CHECK_FALSE(policy.checkSubscribe(*caller, "anything"));
    CHECK_FALSE(policy.checkPublish(*caller, "anything"));
    CHECK_FALSE(policy.restrictsOrigins());
    CHECK_FALSE(policy.corsHeaders("https://x.example").has_value());  // any origin: the front's shared line
}

TEST_CASE("with a token key: no token is 401, outside the rights 403, inside allowed") {
    AccessOptions options;
    options.tokenSecret = kSecret;
    options.publicSubscribe = patterns("news:*");
    AccessPolicy policy(options);
    CHECK_FALSE(policy.open());
    auto anonymous = policy.identify(request({}), nowMs());
    REQUIRE(anonymous);
    CHECK_FALSE(policy.checkSubscribe(*anonymous, "news:today"));  // public
    CHECK(policy.checkSubscribe(*anonymous, "chat:room")->code == ErrorCode::Unauthorized);
    CHECK(policy.checkPublish(*anonymous, "news:today")->code == ErrorCode::Unauthorized);

    for (auto& req :
         {request({{"Authorization", "Bearer " + aliceToken()}}),
          request({{"authorization", "bearer  " + aliceToken()}}), request({}, {{"token", aliceToken()}})}) {
        auto alice = policy.identify(req, nowMs());
        REQUIRE(alice);
        CHECK(alice->kind == Caller::Kind::User);
        CHECK(alice->expiresAtMs > nowMs());
        CHECK_FALSE(policy.checkSubscribe(*alice, "chat:room"));
        CHECK_FALSE(policy.checkSubscribe(*alice, "news:x"));
        auto refused = policy.checkSubscribe(*alice, "user:bob");
        REQUIRE(refused);
        CHECK(refused->code == ErrorCode::Forbidden);
        CHECK(refused->message.find("user:bob") != std::string::npos);
        CHECK_FALSE(policy.checkPublish(*alice, "chat:room"));
        CHECK(policy.checkPublish(*alice, "user:alice")->code == ErrorCode::Forbidden);
    }
    auto bad = policy.identify(request({{"Authorization", "Bearer nope"}}), nowMs());
    REQUIRE_FALSE(bad);
    CHECK(bad.error().code == ErrorCode::Unauthorized);
    auto scheme = policy.identify(request({{"Authorization", "Basic dXNlcjpwYXNz"}}), nowMs());
    REQUIRE_FALSE(scheme);
    CHECK(scheme.error().code == ErrorCode::Unauthorized);
}

TEST_CASE("a token verified once is remembered until its exp, and refused from exp on") {
    AccessOptions options;
    options.tokenSecret = kSecret;
    AccessPolicy policy(options);
    const std::int64_t exp = unixNow() + 60;
    const std::string token = mintHs256(kSecret, {{"sub", "carol"}, {"exp", exp}, {"subscribe", {"a"}}});
    auto first = policy.identify(request({}, {{"token", token}}), nowMs());
    auto second = policy.identify(request({}, {{"token", token}}), nowMs());
    REQUIRE(first);
    REQUIRE(second);
    CHECK(first->identity == second->identity);  // the same verified identity, not checked again
    auto late = policy.identify(request({}, {{"token", token}}), exp * 1000);
    REQUIRE_FALSE(late);
    CHECK(late.error().code == ErrorCode::TokenExpired);
    // A token one byte off is a different token: verified, and refused.
    std::string forged = token;
    char& flipped = forged[forged.size() - 10];  // inside the signature, not its padding bits
    flipped = flipped == 'A' ? 'B' : 'A';
    auto refused = policy.identify(request({}, {{"token", forged}}), nowMs());
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == ErrorCode::Unauthorized);
    // Many tokens: memory stays bounded (entries all go when full) and each still verifies.
    for (int i = 0; i < 5000; ++i) {
        auto caller = policy.identify(
            request({}, {{"token", mintHs256(kSecret, {{"sub", std::to_string(i)}, {"exp", exp}})}}), nowMs());
        REQUIRE(caller);
    }
    CHECK(policy.identify(request({}, {{"token", token}}), nowMs()));
}

TEST_CASE("the token cookie is read only when configured, and only from the page's own origin") {
    AccessOptions options;
    options.tokenSecret = kSecret;
    options.tokenCookie = "pw";
    AccessPolicy policy(options);
    auto withCookie = policy.identify(request({{"Cookie", "theme=dark; pw=" + aliceToken() + "; x=1"}}), nowMs());
    REQUIRE(withCookie);
    CHECK(withCookie->kind == Caller::Kind::User);
    // A cross-site page's WebSocket or form carries the cookie too: not with a foreign Origin.
    auto crossSite = policy.identify(
        request({{"Cookie", "pw=" + aliceToken()}, {"Origin", "https://evil.example"}, {"Host", "app.example"}}),
        nowMs());
    REQUIRE(crossSite);
    CHECK(crossSite->kind == Caller::Kind::Anonymous);
    auto sameSite = policy.identify(
        request({{"Cookie", "pw=" + aliceToken()}, {"Origin", "https://app.example"}, {"Host", "app.example"}}),
        nowMs());
    REQUIRE(sameSite);
    CHECK(sameSite->kind == Caller::Kind::User);
    AccessPolicy noCookie(AccessOptions{kSecret, "", "", "", std::nullopt, std::nullopt, {}});
    auto ignored = noCookie.identify(request({{"Cookie", "pw=" + aliceToken()}}), nowMs());
    REQUIRE(ignored);
    CHECK(ignored->kind == Caller::Kind::Anonymous);
}

TEST_CASE("the API key is the backend's, and never accepted from a browser origin") {
    AccessOptions options;
    options.apiKey = kApiKey;
    AccessPolicy policy(options);
    CHECK_FALSE(policy.open());
    auto backend = policy.identify(request({{"Authorization", "ApiKey " + kApiKey}}), nowMs());
    REQUIRE(backend);
    CHECK(backend->kind == Caller::Kind::Backend);
    CHECK_FALSE(policy.checkPublish(*backend, "any:channel"));
    auto wrong = policy.identify(request({{"Authorization", "ApiKey " + kApiKey + "x"}}), nowMs());
    REQUIRE_FALSE(wrong);
    CHECK(wrong.error().code == ErrorCode::Unauthorized);
    auto browser =
        policy.identify(request({{"Authorization", "ApiKey " + kApiKey}, {"Origin", "https://app.example"}}), nowMs());
    REQUIRE_FALSE(browser);
    CHECK(browser.error().code == ErrorCode::Forbidden);
    // An API key alone: anyone reads (the default), nobody but the backend writes.
    auto anonymous = policy.identify(request({}), nowMs());
    CHECK_FALSE(policy.checkSubscribe(*anonymous, "x"));
    CHECK(policy.checkPublish(*anonymous, "x")->code == ErrorCode::Unauthorized);
}

TEST_CASE("allowed origins: CORS names the origin, others get none") {
    AccessOptions options;
    options.allowedOrigins = {"https://app.example"};
    AccessPolicy policy(options);
    CHECK(policy.restrictsOrigins());
    CHECK(policy.originAllowed(""));
    CHECK(policy.originAllowed("https://app.example"));
    CHECK(policy.originAllowed("HTTPS://APP.EXAMPLE"));
    CHECK_FALSE(policy.originAllowed("https://app.example.evil"));
    CHECK_FALSE(policy.originAllowed("null"));
    const std::string allowed = policy.corsHeaders("https://app.example").value();
    CHECK(allowed.find("Access-Control-Allow-Origin: https://app.example\r\n") != std::string::npos);
    CHECK(allowed.find("Access-Control-Allow-Credentials: true") != std::string::npos);
    CHECK(policy.corsHeaders("https://evil.example").value().find("Allow-Origin") == std::string::npos);
}

TEST_CASE("the rate limiter allows a burst, then the rate, and says when to retry") {
    RateLimiter limiter(10, 10);
    std::int64_t retry = 0;
    for (int i = 0; i < 10; ++i) CHECK(limiter.take("a", 1000, &retry));
    CHECK_FALSE(limiter.take("a", 1000, &retry));
    CHECK(retry == 100);
    CHECK(limiter.take("b", 1000, &retry));  // keys are separate
    CHECK(limiter.take("a", 1100, &retry));  // one more after 100 ms
    CHECK_FALSE(limiter.take("a", 1100, &retry));
    CHECK(limiter.keys() == 2);
    limiter.sweep(100000);  // full again: forgotten
    CHECK(limiter.keys() == 0);
    RateLimiter none(0, 1);
    for (int i = 0; i < 1000; ++i) CHECK(none.take("a", 0, &retry));
}

TEST_CASE("a revoked user's tokens issued before the revocation are refused, also when remembered") {
    Revocations revocations(3600);
    AccessOptions options;
    options.tokenSecret = kSecret;
    options.maxTokenLifetimeSeconds = 3600;
    options.revocations = &revocations;
    AccessPolicy policy(options);
    const std::int64_t now = unixNow();
    auto token = [&](const std::string& sub, std::int64_t iat) {
        return mintHs256(kSecret, {{"sub", sub}, {"iat", iat}, {"exp", iat + 600}});
    };
    const std::string old = token("carol", now - 100), fresh = token("carol", now), other = token("dave", now - 100);
    REQUIRE(policy.identifyToken(old, nowMs()));  // remembered from here on
    REQUIRE(revocations.revoke("carol", now - 50, now));
    auto refused = policy.identifyToken(old, nowMs());
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == ErrorCode::TokenRevoked);
    CHECK(policy.identifyToken(fresh, nowMs()));
    CHECK(policy.identifyToken(other, nowMs()));
    // An earlier `before` does not shorten it; a later one widens it.
    revocations.revoke("carol", now - 500, now);
    CHECK_FALSE(policy.identifyToken(old, nowMs()));
    revocations.revoke("carol", now + 1, now);
    CHECK_FALSE(policy.identifyToken(fresh, nowMs()));

    SECTION("a token without iat counts as issued at exp - the lifetime") {
        const std::string noIat = mintHs256(kSecret, {{"sub", "erin"}, {"exp", now + 600}});
        revocations.revoke("erin", now, now);  // now + 600 - 3600 < now: revoked
        CHECK(policy.identifyToken(noIat, nowMs()).error().code == ErrorCode::TokenRevoked);
    }
    SECTION("kept until `before` is older than the longest token lifetime") {
        revocations.sweep(now + 3600 - 100);
        CHECK(revocations.before("carol") != 0);
        revocations.sweep(now + 3600 + 2);
        CHECK(revocations.size() == 0);
        CHECK_FALSE(revocations.revoke("zed", now - 3600, now));  // nothing it could refuse is valid
    }
}

TEST_CASE("a token living longer than --max-token-lifetime is refused") {
    AccessOptions options;
    options.tokenSecret = kSecret;
    options.maxTokenLifetimeSeconds = 600;
    AccessPolicy policy(options);
    const std::int64_t now = unixNow();
    CHECK(policy.identifyToken(mintHs256(kSecret, {{"sub", "a"}, {"iat", now - 10}, {"exp", now + 590}}), nowMs()));
    auto tooLong =
        policy.identifyToken(mintHs256(kSecret, {{"sub", "a"}, {"iat", now - 10}, {"exp", now + 591}}), nowMs());
    REQUIRE_FALSE(tooLong);
    CHECK(tooLong.error().code == ErrorCode::Unauthorized);
    CHECK(tooLong.error().message.find("--max-token-lifetime") != std::string::npos);
    CHECK_FALSE(policy.identifyToken(mintHs256(kSecret, {{"sub", "a"}, {"exp", now + 601}}), nowMs()));
    CHECK(policy.identifyToken(mintHs256(kSecret, {{"sub", "a"}, {"exp", now + 599}}), nowMs()));
}

}  // namespace access_test
