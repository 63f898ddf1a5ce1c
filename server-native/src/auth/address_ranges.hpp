// Sets of client addresses, for --metrics-allow: IPv4 and IPv6 addresses and CIDR ranges
// ("10.0.0.0/8", "::1", "fd00::/8"), and the names `loopback` (127.0.0.0/8, ::1),
// `private` (10/8, 172.16/12, 192.168/16, 169.254/16, fc00::/7, fe80::/10) and `any`.
// An IPv4 peer written as IPv6 (::ffff:10.1.2.3) counts as its IPv4 address.
//
// Threading: immutable after parse(); any thread.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pushwire::server {

class AddressRanges {
public:
    // A comma-separated list; nullopt with `problem` set when an item is none of the above.
    static std::optional<AddressRanges> parse(std::string_view text, std::string* problem = nullptr);

    bool contains(std::string_view address) const;
    const std::string& text() const { return text_; }

private:
    struct Range {
        std::array<std::uint8_t, 16> bytes{};  // IPv4 as ::ffff:a.b.c.d
        int prefix = 0;                        // bits of `bytes` that must match
    };
    bool add(std::string_view item);
    std::vector<Range> ranges_;
    std::string text_;
};

}  // namespace pushwire::server
