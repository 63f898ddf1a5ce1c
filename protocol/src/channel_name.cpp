#include "pushwire/protocol/channel_name.hpp"

namespace pushwire::protocol {
namespace {

bool isChannelChar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.' || c == ':';
}

}  // namespace

bool isValidChannelName(std::string_view name) {
    if (name.empty() || name.size() > kMaxChannelNameLength) return false;
    for (char c : name) {
        if (!isChannelChar(c)) return false;
    }
    return true;
}

std::optional<std::string> channelNameProblem(std::string_view name) {
    if (name.empty()) return std::string("channel name is empty; expected 1-200 characters");
    if (name.size() > kMaxChannelNameLength) {
        return "channel name has " + std::to_string(name.size()) + " characters; expected at most 200";
    }
    for (char c : name) {
        if (!isChannelChar(c)) {
            unsigned code = static_cast<unsigned char>(c);
            std::string seen = code == 0x20                   ? std::string("a space")
                               : (code > 0x20 && code < 0x7f) ? "'" + std::string(1, c) + "'"
                                                              : "byte " + std::to_string(code);
            return "channel name contains " + seen + "; expected only A-Z a-z 0-9 _ - . :";
        }
    }
    return std::nullopt;
}

}  // namespace pushwire::protocol
