// JWT verification: HS256 with a shared secret, RS256 or ES256 with a public key. The
// algorithm a token may use comes from the server's configuration alone: a token saying
// `alg: none`, or HS256 where only a public key is configured (HS/RS confusion: the
// public key used as an HMAC secret), is refused before any signature is looked at.
//
// Signatures are checked by OpenSSL (HMAC, EVP_DigestVerify; ES256's R||S is turned into
// the DER form OpenSSL verifies); nothing cryptographic is written here. The token's JSON
// is read by nlohmann/json; claims: `exp` (required, and exact: a stream closes at exp, so
// a token is refused from exp on), `nbf` and `iat` (honoured, with a 30 s leeway for an
// issuer whose clock runs ahead), `sub`, and the channel rights `subscribe` and `publish`
// (lists of channel patterns), and `info` (any JSON, at most kMaxInfoBytes serialized:
// what presence shows of the member).
//
// Threading: immutable after construction; verify() may run on any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "auth/channel_patterns.hpp"
#include "pushwire/protocol/result.hpp"

namespace pushwire::server {

struct Identity {
    std::string subject;                   // sub
    std::int64_t expiresAt = 0;            // exp, seconds since the Unix epoch
    std::optional<std::int64_t> issuedAt;  // iat, when the token has one
    ChannelPatterns subscribe;
    ChannelPatterns publish;
    // The `info` claim, serialized ("null" when absent): what presence shows of the user.
    std::string infoJson = "null";
};

// The largest `info` claim, serialized: a token with a larger one is refused.
constexpr std::size_t kMaxInfoBytes = 1024;

class TokenVerifier {
public:
    static constexpr std::size_t kMaxTokenBytes = 8192;
    static constexpr std::int64_t kLeewaySeconds = 30;

    // `secret`: HS256 (empty: none). `publicKeyPem`: an RSA key (RS256) or a P-256 key
    // (ES256) (empty: none). Throws std::runtime_error on a key OpenSSL cannot read.
    TokenVerifier(std::string secret, const std::string& publicKeyPem);
    ~TokenVerifier();
    TokenVerifier(const TokenVerifier&) = delete;
    TokenVerifier& operator=(const TokenVerifier&) = delete;

    // unauthorized (malformed, bad signature, algorithm not accepted, not yet valid) or
    // token_expired.
    protocol::Result<Identity> verify(std::string_view token, std::int64_t nowSeconds) const;

    // "HS256", "RS256, ES256"...: what this server accepts, for messages and docs.
    std::string accepted() const;

private:
    std::string secret_;
    struct Key;
    std::unique_ptr<Key> key_;
    std::string keyAlgorithm_;  // "RS256" or "ES256"
};

// base64url (RFC 4648 §5, no padding) to bytes; nullopt when malformed.
std::optional<std::string> base64UrlDecode(std::string_view text);

}  // namespace pushwire::server
