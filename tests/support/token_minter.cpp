#include "support/token_minter.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <chrono>
#include <stdexcept>

namespace pushwire::testing {

struct KeyPair::Key {
    EVP_PKEY* pkey = nullptr;
    ~Key() { EVP_PKEY_free(pkey); }
};

KeyPair::KeyPair(Kind kind) : kind_(kind), key_(std::make_unique<Key>()) {
    key_->pkey = kind == Kind::Rsa ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(2048))
                                   : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    if (!key_->pkey) throw std::runtime_error("key generation failed");
}

KeyPair::~KeyPair() = default;

std::string KeyPair::publicPem() const {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, key_->pkey);
    char* data = nullptr;
    const long length = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(length));
    BIO_free(bio);
    return out;
}

std::string KeyPair::sign(const std::string& input) const {
    EVP_MD_CTX* context = EVP_MD_CTX_new();
    std::size_t length = 0;
    EVP_DigestSignInit(context, nullptr, EVP_sha256(), nullptr, key_->pkey);
    EVP_DigestSign(context, nullptr, &length, reinterpret_cast<const unsigned char*>(input.data()), input.size());
    std::string signature(length, '\0');
    EVP_DigestSign(context, reinterpret_cast<unsigned char*>(signature.data()), &length,
                   reinterpret_cast<const unsigned char*>(input.data()), input.size());
    EVP_MD_CTX_free(context);
    signature.resize(length);
    if (kind_ == Kind::Rsa) return signature;
    // DER ECDSA-Sig-Value -> R||S, 32 bytes each.
    const unsigned char* cursor = reinterpret_cast<const unsigned char*>(signature.data());
    ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &cursor, static_cast<long>(signature.size()));
    std::string raw(64, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(sig), reinterpret_cast<unsigned char*>(raw.data()), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(sig), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
    ECDSA_SIG_free(sig);
    return raw;
}

std::string signingInput(const nlohmann::json& header, const nlohmann::json& claims) {
    return base64Url(header.dump()) + "." + base64Url(claims.dump());
}

namespace {

std::string hmac(const std::string& key, const std::string& input) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(input.data()),
         input.size(), mac, &length);
    return std::string(reinterpret_cast<char*>(mac), length);
}

}  // namespace

std::string mintHs256(const std::string& secret, const nlohmann::json& claims) {
    const std::string input = signingInput({{"alg", "HS256"}, {"typ", "JWT"}}, claims);
    return input + "." + base64Url(hmac(secret, input));
}

std::string mintWith(const KeyPair& key, const nlohmann::json& claims) {
    const char* alg = key.kind() == KeyPair::Kind::Rsa ? "RS256" : "ES256";
    const std::string input = signingInput({{"alg", alg}, {"typ", "JWT"}}, claims);
    return input + "." + base64Url(key.sign(input));
}

std::string mintNone(const nlohmann::json& claims) {
    return signingInput({{"alg", "none"}, {"typ", "JWT"}}, claims) + ".";
}

std::string mintConfused(const KeyPair& key, const nlohmann::json& claims) {
    const std::string input = signingInput({{"alg", "HS256"}, {"typ", "JWT"}}, claims);
    return input + "." + base64Url(hmac(key.publicPem(), input));
}

std::int64_t unixNow() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace pushwire::testing
