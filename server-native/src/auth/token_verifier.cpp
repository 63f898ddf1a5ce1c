#include "auth/token_verifier.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace pushwire::server {

using protocol::Error;
using protocol::ErrorCode;
using json = nlohmann::json;

struct TokenVerifier::Key {
    EVP_PKEY* pkey = nullptr;
    ~Key() {
        if (pkey) EVP_PKEY_free(pkey);
    }
};

namespace {

Error unauthorized(const std::string& why) { return Error{ErrorCode::Unauthorized, "invalid token: " + why}; }

int sextet(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

// ES256 signs R||S (32 bytes each); OpenSSL verifies the DER of ECDSA-Sig-Value.
std::optional<std::string> rawToDer(const std::string& raw) {
    if (raw.size() != 64) return std::nullopt;
    ECDSA_SIG* sig = ECDSA_SIG_new();
    BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr);
    BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr);
    if (!sig || !r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(sig);
        return std::nullopt;
    }
    unsigned char* der = nullptr;
    const int length = i2d_ECDSA_SIG(sig, &der);
    ECDSA_SIG_free(sig);
    if (length <= 0) return std::nullopt;
    std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(length));
    OPENSSL_free(der);
    return out;
}

// A NumericDate claim (RFC 7519 §2: seconds since the epoch, a JSON number): absent
// (nullopt, nothing said), a date, or a sentence saying what is wrong with it.
struct DateClaim {
    std::optional<std::int64_t> seconds;
    std::string problem;
};

const char* jsonTypeName(const json& value) {
    switch (value.type()) {
        case json::value_t::null: return "null";
        case json::value_t::boolean: return "a boolean";
        case json::value_t::string: return "a string";
        case json::value_t::array: return "an array";
        case json::value_t::object: return "an object";
        default: return "a number";
    }
}

DateClaim numericDate(const json& payload, const char* name) {
    auto it = payload.find(name);
    if (it == payload.end()) return {};
    // At most 1e15 s (31 million years) either way: a date, not a number made to overflow.
    constexpr double kLimit = 1e15;
    const std::string expected = " (seconds since the epoch, a number like 1700000000)";
    if (it->is_number_unsigned()) {
        const auto value = it->get<std::uint64_t>();
        if (value < static_cast<std::uint64_t>(kLimit)) return {static_cast<std::int64_t>(value), ""};
    } else if (it->is_number_integer()) {
        const auto value = it->get<std::int64_t>();
        if (value > -static_cast<std::int64_t>(kLimit) && value < static_cast<std::int64_t>(kLimit)) {
            return {value, ""};
        }
    } else if (it->is_number_float()) {
        const double value = it->get<double>();
        if (std::isfinite(value) && std::fabs(value) < kLimit)
            return {static_cast<std::int64_t>(std::floor(value)), ""};
    } else {
        return {std::nullopt, std::string(name) + " is " + jsonTypeName(*it) + "; expected a NumericDate" + expected};
    }
    return {std::nullopt, std::string(name) + " is out of range for a NumericDate" + expected};
}

std::optional<ChannelPatterns> rights(const json& payload, const char* name, std::string& problem) {
    auto it = payload.find(name);
    if (it == payload.end()) return ChannelPatterns();
    if (!it->is_array()) {
        problem = std::string("'") + name + "' must be a list of channel patterns";
        return std::nullopt;
    }
    std::vector<std::string> patterns;
    for (const json& item : *it) {
        if (!item.is_string()) {
            problem = std::string("'") + name + "' must be a list of channel patterns";
            return std::nullopt;
        }
        patterns.push_back(item.get<std::string>());
    }
    return ChannelPatterns::fromList(patterns, &problem);
}

}  // namespace

std::optional<std::string> base64UrlDecode(std::string_view text) {
    std::string out;
    out.reserve(text.size() * 3 / 4);
    std::uint32_t buffer = 0;
    int bits = 0;
    for (char c : text) {
        const int value = sextet(c);
        if (value < 0) return std::nullopt;
        buffer = (buffer << 6) | static_cast<std::uint32_t>(value);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((buffer >> bits) & 0xff));
        }
    }
    if (bits >= 6) return std::nullopt;  // a length no encoding produces
    // The bits left over must be zero: one token has one spelling (RFC 4648 §3.5).
    if (bits > 0 && (buffer & ((1u << bits) - 1)) != 0) return std::nullopt;
    return out;
}

TokenVerifier::TokenVerifier(std::string secret, const std::string& publicKeyPem) : secret_(std::move(secret)) {
    if (publicKeyPem.empty()) return;
    BIO* bio = BIO_new_mem_buf(publicKeyPem.data(), static_cast<int>(publicKeyPem.size()));
    EVP_PKEY* pkey = bio ? PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr) : nullptr;
    BIO_free(bio);
    if (!pkey) throw std::runtime_error("the public key is not a PEM public key OpenSSL can read");
    key_ = std::make_unique<Key>();
    key_->pkey = pkey;
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        if (EVP_PKEY_get_bits(pkey) < 2048) throw std::runtime_error("the RSA key has fewer than 2048 bits");
        keyAlgorithm_ = "RS256";
    } else if (EVP_PKEY_is_a(pkey, "EC")) {
        char group[64] = {};
        std::size_t length = 0;
        if (EVP_PKEY_get_utf8_string_param(pkey, "group", group, sizeof group, &length) != 1 ||
            std::string(group) != "prime256v1") {
            throw std::runtime_error("the EC key is not on P-256 (ES256)");
        }
        keyAlgorithm_ = "ES256";
    } else {
        throw std::runtime_error("the public key is neither RSA (RS256) nor EC P-256 (ES256)");
    }
}

TokenVerifier::~TokenVerifier() = default;

std::string TokenVerifier::accepted() const {
    std::string out = secret_.empty() ? "" : "HS256";
    if (!keyAlgorithm_.empty()) out += (out.empty() ? "" : ", ") + keyAlgorithm_;
    return out;
}

protocol::Result<Identity> TokenVerifier::verify(std::string_view token, std::int64_t now) const {
    if (token.size() > kMaxTokenBytes) return unauthorized("longer than 8192 bytes");
    const std::size_t dot1 = token.find('.');
    const std::size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
        return unauthorized("expected header.payload.signature");
    }
    const std::string_view signingInput = token.substr(0, dot2);
    auto headerText = base64UrlDecode(token.substr(0, dot1));
    auto payloadText = base64UrlDecode(token.substr(dot1 + 1, dot2 - dot1 - 1));
    auto signature = base64UrlDecode(token.substr(dot2 + 1));
    if (!headerText || !payloadText || !signature) return unauthorized("a part is not base64url");
    json header = json::parse(*headerText, nullptr, false);
    json payload = json::parse(*payloadText, nullptr, false);
    if (!header.is_object() || !payload.is_object()) return unauthorized("the header or payload is not a JSON object");
    auto alg = header.find("alg");
    if (alg == header.end() || !alg->is_string()) return unauthorized("the header names no algorithm");
    if (header.contains("crit")) return unauthorized("critical header parameters are not supported");
    const std::string algorithm = alg->get<std::string>();

    // The algorithm is the server's choice: a token only says which of the accepted ones.
    bool verified = false;
    if (algorithm == "HS256" && !secret_.empty()) {
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int macLength = 0;
        HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
             reinterpret_cast<const unsigned char*>(signingInput.data()), signingInput.size(), mac, &macLength);
        verified = signature->size() == macLength && CRYPTO_memcmp(mac, signature->data(), macLength) == 0;
    } else if (algorithm == keyAlgorithm_ && key_) {
        std::string der = *signature;
        if (algorithm == "ES256") {
            auto converted = rawToDer(*signature);
            if (!converted) return unauthorized("bad signature");
            der = std::move(*converted);
        }
        EVP_MD_CTX* context = EVP_MD_CTX_new();
        verified =
            context && EVP_DigestVerifyInit(context, nullptr, EVP_sha256(), nullptr, key_->pkey) == 1 &&
            EVP_DigestVerify(context, reinterpret_cast<const unsigned char*>(der.data()), der.size(),
                             reinterpret_cast<const unsigned char*>(signingInput.data()), signingInput.size()) == 1;
        EVP_MD_CTX_free(context);
    } else {
        return unauthorized("algorithm '" + algorithm.substr(0, 16) + "' is not accepted; this server accepts " +
                            accepted());
    }
    if (!verified) return unauthorized("bad signature");

    Identity identity;
    const DateClaim exp = numericDate(payload, "exp");
    if (!exp.problem.empty()) return unauthorized(exp.problem);
    if (!exp.seconds) return unauthorized("it has no exp (expiry) claim, which is required");
    if (now >= *exp.seconds) {
        return Error{ErrorCode::TokenExpired, "the token expired at " + std::to_string(*exp.seconds) + " (now " +
                                                  std::to_string(now) + "); ask for a new one"};
    }
    for (const char* name : {"nbf", "iat"}) {
        const DateClaim date = numericDate(payload, name);
        if (!date.problem.empty()) return unauthorized(date.problem);
        if (date.seconds && *date.seconds > now + kLeewaySeconds) {
            return unauthorized(std::string("not valid yet (") + name + " " + std::to_string(*date.seconds) + ", now " +
                                std::to_string(now) + ")");
        }
        if (std::string_view(name) == "iat") identity.issuedAt = date.seconds;
    }
    identity.expiresAt = *exp.seconds;
    if (auto sub = payload.find("sub"); sub != payload.end() && sub->is_string())
        identity.subject = sub->get<std::string>();
    std::string problem;
    auto subscribe = rights(payload, "subscribe", problem);
    auto publish = rights(payload, "publish", problem);
    if (!subscribe || !publish) return unauthorized(problem);
    identity.subscribe = std::move(*subscribe);
    identity.publish = std::move(*publish);
    if (auto info = payload.find("info"); info != payload.end()) {
        identity.infoJson = info->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        if (identity.infoJson.size() > kMaxInfoBytes) {
            return unauthorized("its info claim is " + std::to_string(identity.infoJson.size()) +
                                " bytes serialized; at most " + std::to_string(kMaxInfoBytes));
        }
    }
    return identity;
}

}  // namespace pushwire::server
