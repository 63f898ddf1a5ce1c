#include "auth/address_ranges.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace pushwire::server {

namespace {

// The address as 16 bytes (IPv4 mapped into ::ffff:0:0/96); false when it is none.
bool toBytes(const std::string& text, std::array<std::uint8_t, 16>& out, bool& v4) {
    in_addr a4{};
    in6_addr a6{};
    if (inet_pton(AF_INET, text.c_str(), &a4) == 1) {
        out = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        std::memcpy(out.data() + 12, &a4, 4);
        v4 = true;
        return true;
    }
    if (inet_pton(AF_INET6, text.c_str(), &a6) == 1) {
        std::memcpy(out.data(), &a6, 16);
        static const std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        v4 = std::memcmp(out.data(), kMapped, 12) == 0;
        return true;
    }
    return false;
}

std::string_view trimmed(std::string_view text) {
    while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
    while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
    return text;
}

}  // namespace

bool AddressRanges::add(std::string_view item) {
    if (item == "loopback") return add("127.0.0.0/8") && add("::1");
    if (item == "private") {
        for (const char* range :
             {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "fc00::/7", "fe80::/10"}) {
            add(range);
        }
        return true;
    }
    if (item == "any") return add("0.0.0.0/0") && add("::/0");
    const std::size_t slash = item.find('/');
    Range range;
    bool v4 = false;
    if (!toBytes(std::string(item.substr(0, slash)), range.bytes, v4)) return false;
    const int width = v4 ? 32 : 128;
    int prefix = width;
    if (slash != std::string_view::npos) {
        const std::string_view bits = item.substr(slash + 1);
        auto [end, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), prefix);
        if (ec != std::errc() || end != bits.data() + bits.size() || prefix < 0 || prefix > width) return false;
    }
    range.prefix = prefix + (v4 ? 96 : 0);
    ranges_.push_back(range);
    return true;
}

std::optional<AddressRanges> AddressRanges::parse(std::string_view text, std::string* problem) {
    AddressRanges out;
    out.text_ = std::string(text);
    std::size_t start = 0;
    while (start <= text.size()) {
        std::size_t comma = text.find(',', start);
        if (comma == std::string_view::npos) comma = text.size();
        const std::string_view item = trimmed(text.substr(start, comma - start));
        start = comma + 1;
        if (item.empty() || !out.add(item)) {
            if (problem) {
                *problem = "'" + std::string(item) +
                           "' is not an address or a range (like 10.0.0.0/8, 192.168.1.7, fd00::/8, loopback, "
                           "private or any)";
            }
            return std::nullopt;
        }
    }
    return out;
}

bool AddressRanges::contains(std::string_view address) const {
    std::array<std::uint8_t, 16> bytes{};
    bool v4 = false;
    if (!toBytes(std::string(address), bytes, v4)) return false;
    for (const Range& range : ranges_) {
        const int whole = range.prefix / 8, rest = range.prefix % 8;
        if (std::memcmp(bytes.data(), range.bytes.data(), static_cast<std::size_t>(whole)) != 0) continue;
        if (rest != 0) {
            const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
            if ((bytes[static_cast<std::size_t>(whole)] & mask) !=
                (range.bytes[static_cast<std::size_t>(whole)] & mask)) {
                continue;
            }
        }
        return true;
    }
    return false;
}

}  // namespace pushwire::server
