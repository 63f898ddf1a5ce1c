// Mints JWTs for tests, signed by OpenSSL: HS256 with a secret, RS256 and ES256 with keys
// made here (their public halves as PEM, for --token-public-key-file), and the broken
// ones an attacker would send (alg none, HS256 signed with the public key, a bad
// signature). Never used by the server.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "support/base64url.hpp"

namespace pushwire::testing {

class KeyPair {
public:
    enum class Kind { Rsa, P256 };
    explicit KeyPair(Kind kind);
    ~KeyPair();
    KeyPair(const KeyPair&) = delete;
    KeyPair& operator=(const KeyPair&) = delete;

    std::string publicPem() const;
    // The raw signature JWS wants (RS256: PKCS#1 v1.5; ES256: R||S).
    std::string sign(const std::string& input) const;
    Kind kind() const { return kind_; }

private:
    Kind kind_;
    struct Key;
    std::unique_ptr<Key> key_;
};

// header.payload with the given header, and the signed token.
std::string signingInput(const nlohmann::json& header, const nlohmann::json& claims);
std::string mintHs256(const std::string& secret, const nlohmann::json& claims);
std::string mintWith(const KeyPair& key, const nlohmann::json& claims);
std::string mintNone(const nlohmann::json& claims);
// HS/RS confusion: header says HS256, signed with HMAC keyed by the public key's PEM.
std::string mintConfused(const KeyPair& key, const nlohmann::json& claims);

std::int64_t unixNow();

// What the auth tests share: an HS256 secret, and alice's claims (reads chat:* and
// user:alice, publishes to chat:*, expires at `exp`).
inline const std::string kTestSecret = "0123456789abcdef0123456789abcdef";
inline nlohmann::json aliceClaims(std::int64_t exp) {
    return {{"sub", "alice"}, {"exp", exp}, {"subscribe", {"chat:*", "user:alice"}}, {"publish", {"chat:*"}}};
}

}  // namespace pushwire::testing
