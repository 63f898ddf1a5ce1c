#include "auth/token_verifier.hpp"

#include <catch2/catch.hpp>

#include "support/token_minter.hpp"

namespace token_verifier_test {

using namespace pushwire::server;
using namespace pushwire::testing;
using nlohmann::json;
using pushwire::protocol::ErrorCode;

namespace {

const std::string& kSecret = kTestSecret;

json claims(std::int64_t now, json extra = json::object()) {
    json out = aliceClaims(now + 600);
    for (auto& [key, value] : extra.items()) out[key] = value;
    return out;
}

ErrorCode codeOf(const pushwire::protocol::Result<Identity>& result) { return result.error().code; }

}  // namespace

TEST_CASE("an HS256 token signed with the secret gives its subject and rights") {
    TokenVerifier verifier(kSecret, "");
    const auto now = unixNow();
    auto identity = verifier.verify(mintHs256(kSecret, claims(now)), now);
    REQUIRE(identity);
    CHECK(identity->subject == "alice");
    CHECK(identity->expiresAt == now + 600);
    CHECK(identity->subscribe.matches("chat:room1"));
    CHECK(identity->subscribe.matches("user:alice"));
    CHECK_FALSE(identity->subscribe.matches("user:bob"));
    CHECK(identity->publish.matches("chat:x"));
    CHECK_FALSE(identity->publish.matches("user:alice"));
}

TEST_CASE("RS256 and ES256 tokens verify against the public key, a token of the other key does not") {
    KeyPair rsa(KeyPair::Kind::Rsa);
    KeyPair ec(KeyPair::Kind::P256);
    KeyPair otherEc(KeyPair::Kind::P256);
    const auto now = unixNow();
    TokenVerifier rsaVerifier("", rsa.publicPem());
    TokenVerifier ecVerifier("", ec.publicPem());
    CHECK(rsaVerifier.verify(mintWith(rsa, claims(now)), now));
    CHECK(ecVerifier.verify(mintWith(ec, claims(now)), now));
    CHECK(codeOf(ecVerifier.verify(mintWith(otherEc, claims(now)), now)) == ErrorCode::Unauthorized);
    // ES256 where RS256 is configured: refused for its algorithm, not tried.
    auto wrongAlg = rsaVerifier.verify(mintWith(ec, claims(now)), now);
    REQUIRE_FALSE(wrongAlg);
    CHECK(wrongAlg.error().message.find("not accepted") != std::string::npos);
}

TEST_CASE("alg none, HS/RS confusion and HS256 without a secret are refused") {
    KeyPair rsa(KeyPair::Kind::Rsa);
    const auto now = unixNow();
    TokenVerifier publicOnly("", rsa.publicPem());
    CHECK(codeOf(publicOnly.verify(mintNone(claims(now)), now)) == ErrorCode::Unauthorized);
    // The public key is public: an HMAC keyed with it proves nothing.
    auto confused = publicOnly.verify(mintConfused(rsa, claims(now)), now);
    REQUIRE_FALSE(confused);
    CHECK(confused.error().message.find("'HS256' is not accepted") != std::string::npos);
    TokenVerifier secretOnly(kSecret, "");
    CHECK(codeOf(secretOnly.verify(mintNone(claims(now)), now)) == ErrorCode::Unauthorized);
    // "none" with a signature that is the empty string's MAC: still refused.
    const std::string input = signingInput({{"alg", "none"}}, claims(now));
    CHECK_FALSE(secretOnly.verify(input + "." + base64Url(""), now));
}

TEST_CASE("a changed payload or signature does not verify") {
    TokenVerifier verifier(kSecret, "");
    const auto now = unixNow();
    std::string token = mintHs256(kSecret, claims(now));
    std::string forged = signingInput({{"alg", "HS256"}, {"typ", "JWT"}}, claims(now, {{"subscribe", {"*"}}})) +
                         token.substr(token.rfind('.'));
    CHECK(codeOf(verifier.verify(forged, now)) == ErrorCode::Unauthorized);
    std::string flipped = token;
    flipped.back() = flipped.back() == 'A' ? 'B' : 'A';
    CHECK(codeOf(verifier.verify(flipped, now)) == ErrorCode::Unauthorized);  // padding bits count too
    std::string inside = token;
    inside[inside.size() - 10] = inside[inside.size() - 10] == 'A' ? 'B' : 'A';
    CHECK(codeOf(verifier.verify(inside, now)) == ErrorCode::Unauthorized);
    CHECK_FALSE(verifier.verify(mintHs256("another secret, also 32 bytes long..", claims(now)), now));
}

TEST_CASE("exp is required and exact, nbf and iat in the future are refused beyond the leeway") {
    TokenVerifier verifier(kSecret, "");
    const auto now = unixNow();
    json noExp = claims(now);
    noExp.erase("exp");
    auto missing = verifier.verify(mintHs256(kSecret, noExp), now);
    REQUIRE_FALSE(missing);
    CHECK(missing.error().message.find("no exp") != std::string::npos);
    CHECK(codeOf(verifier.verify(mintHs256(kSecret, claims(now, {{"exp", now}})), now)) == ErrorCode::TokenExpired);
    CHECK(codeOf(verifier.verify(mintHs256(kSecret, claims(now, {{"exp", now - 1000}})), now)) ==
          ErrorCode::TokenExpired);
    CHECK(verifier.verify(mintHs256(kSecret, claims(now, {{"exp", now + 1}})), now));
    CHECK(codeOf(verifier.verify(mintHs256(kSecret, claims(now, {{"exp", "tomorrow"}})), now)) ==
          ErrorCode::Unauthorized);
    CHECK(verifier.verify(mintHs256(kSecret, claims(now, {{"nbf", now + 10}})), now));  // within the leeway
    CHECK(codeOf(verifier.verify(mintHs256(kSecret, claims(now, {{"nbf", now + 3600}})), now)) ==
          ErrorCode::Unauthorized);
    CHECK(codeOf(verifier.verify(mintHs256(kSecret, claims(now, {{"iat", now + 3600}})), now)) ==
          ErrorCode::Unauthorized);
}

TEST_CASE("rights that are not lists of channel patterns are refused, so no pattern smuggles a channel") {
    TokenVerifier verifier(kSecret, "");
    const auto now = unixNow();
    for (json bad : {json("chat:*"), json({"chat:*", 3}), json({"chat room"}), json({"a,b"}), json({""}),
                     json({"x\"y"}), json({"chat:\n*"})}) {
        INFO(bad.dump());
        CHECK(codeOf(verifier.verify(mintHs256(kSecret, claims(now, {{"subscribe", bad}})), now)) ==
              ErrorCode::Unauthorized);
    }
    // Absent rights: none.
    json bare = {{"exp", now + 60}};
    auto identity = verifier.verify(mintHs256(kSecret, bare), now);
    REQUIRE(identity);
    CHECK(identity->subscribe.empty());
    CHECK(identity->publish.empty());
}

TEST_CASE("malformed tokens are refused with a reason, never a crash") {
    TokenVerifier verifier(kSecret, "");
    const auto now = unixNow();
    for (std::string bad : {std::string(""), std::string("."), std::string(".."), std::string("a.b"),
                            std::string("a.b.c.d"), std::string("!!!.???.***"), std::string("e30.e30."),
                            std::string("bnVsbA.bnVsbA.x"), std::string(9000, 'a')}) {
        INFO(bad.substr(0, 40));
        auto result = verifier.verify(bad, now);
        REQUIRE_FALSE(result);
        CHECK(result.error().code == ErrorCode::Unauthorized);
        CHECK_FALSE(result.error().message.empty());
    }
}

TEST_CASE("keys the verifier cannot use are refused at start") {
    CHECK_THROWS(TokenVerifier("", "not a key"));
    KeyPair rsa(KeyPair::Kind::Rsa);
    CHECK_NOTHROW(TokenVerifier("", rsa.publicPem()));
}

TEST_CASE("the info claim is kept serialized, null when absent, and a token with more than 1 KiB of it refused") {
    TokenVerifier verifier(kSecret, "");
    const auto now = unixNow();
    auto without = verifier.verify(mintHs256(kSecret, claims(now)), now);
    REQUIRE(without);
    CHECK(without->infoJson == "null");
    auto with = verifier.verify(mintHs256(kSecret, claims(now, {{"info", {{"name", "Alice"}, {"n", 1}}}})), now);
    REQUIRE(with);
    CHECK(json::parse(with->infoJson) == json({{"name", "Alice"}, {"n", 1}}));
    auto big = verifier.verify(mintHs256(kSecret, claims(now, {{"info", std::string(1100, 'x')}})), now);
    REQUIRE_FALSE(big);
    CHECK(codeOf(big) == ErrorCode::Unauthorized);
    CHECK_THAT(big.error().message, Catch::Contains("info"));
}

}  // namespace token_verifier_test
