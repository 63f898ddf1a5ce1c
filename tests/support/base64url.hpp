// base64url without padding (RFC 4648 §5), as JWTs use it: for tests that build tokens.
#pragma once

#include <cstdint>
#include <string>

namespace pushwire::testing {

inline std::string base64Url(const std::string& bytes) {
    static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    std::uint32_t buffer = 0;
    int bits = 0;
    for (unsigned char c : bytes) {
        buffer = (buffer << 8) | c;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out.push_back(kAlphabet[(buffer >> bits) & 63]);
        }
    }
    if (bits > 0) out.push_back(kAlphabet[(buffer << (6 - bits)) & 63]);
    return out;
}

}  // namespace pushwire::testing
