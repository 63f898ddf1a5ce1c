#include "auth/client_id.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdint>
#include <random>

#include "front/http_request.hpp"

namespace pushwire::server {

using protocol::Error;
using protocol::ErrorCode;

namespace {

std::string hex(const unsigned char* bytes, std::size_t count) {
    static const char* const kHex = "0123456789abcdef";
    std::string out;
    out.reserve(count * 2);
    for (std::size_t i = 0; i < count; ++i) {
        out.push_back(kHex[bytes[i] >> 4]);
        out.push_back(kHex[bytes[i] & 15]);
    }
    return out;
}

bool sessionCharacter(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

}  // namespace

protocol::Result<std::string> clientIdOfSession(std::string_view session) {
    if (session.size() < kMinSessionChars || session.size() > kMaxSessionChars) {
        return Error{ErrorCode::BadRequest, "session must be " + std::to_string(kMinSessionChars) + " to " +
                                                std::to_string(kMaxSessionChars) + " characters, got " +
                                                std::to_string(session.size())};
    }
    for (char c : session) {
        if (!sessionCharacter(c)) {
            return Error{ErrorCode::BadRequest, "session may hold only A-Z a-z 0-9 _ -"};
        }
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_Digest(session.data(), session.size(), digest, &length, EVP_sha256(), nullptr) != 1 || length < 16) {
        return Error{ErrorCode::Internal, "SHA-256 failed"};
    }
    return hex(digest, 16);
}

std::string randomClientId() {
    // Every poll request without a session gets one, so this is on the long-poll path:
    // RAND_bytes costs a getpid() system call and a DRBG step each time (about 5% of the
    // server's CPU on a 1,000-poller fan-out). The id grants nothing (it is public, and a
    // session, not an id, claims one), so a generator seeded once per thread from
    // OpenSSL is enough: 128 bits, unique in practice.
    static thread_local std::mt19937_64 generator = [] {
        std::uint64_t seed[2] = {0, 0};
        if (RAND_bytes(reinterpret_cast<unsigned char*>(seed), sizeof seed) != 1) {
            seed[0] = std::random_device{}();
            seed[1] = std::random_device{}();
        }
        std::seed_seq sequence{seed[0], seed[0] >> 32, seed[1], seed[1] >> 32};
        return std::mt19937_64(sequence);
    }();
    unsigned char bytes[16];
    for (int half = 0; half < 2; ++half) {
        const std::uint64_t value = generator();
        for (int i = 0; i < 8; ++i) bytes[half * 8 + i] = static_cast<unsigned char>(value >> (8 * i));
    }
    return hex(bytes, sizeof bytes);
}

protocol::Result<ClientId> clientIdOf(const HttpRequest& request) {
    const std::string* session = request.param("session");
    if (!session) return ClientId{randomClientId(), false};
    // Two sessions would be two identities: which one was meant is not for the server to guess.
    if (const std::size_t given = request.params("session").size(); given > 1) {
        return Error{ErrorCode::BadRequest, "session given " + std::to_string(given) + " times; give it once"};
    }
    auto id = clientIdOfSession(*session);
    if (!id) return id.error();
    return ClientId{std::move(id.value()), true};
}

}  // namespace pushwire::server
