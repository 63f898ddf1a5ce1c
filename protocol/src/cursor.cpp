#include "pushwire/protocol/cursor.hpp"

#include <charconv>

#include "pushwire/protocol/channel_name.hpp"

namespace pushwire::protocol {
namespace {

std::optional<std::uint64_t> parseSeq(std::string_view text) {
    if (text.empty() || text.size() > 20) return std::nullopt;
    std::uint64_t value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
    return value;
}

Error cursorError(std::string message) { return Error{ErrorCode::BadCursor, std::move(message)}; }

}  // namespace

std::optional<std::uint64_t> Cursor::positionOf(std::string_view channel) const {
    for (const auto& [name, seq] : positions) {
        if (name == channel) return seq;
    }
    return all;
}

bool isValidEpoch(std::string_view epoch) {
    if (epoch.empty() || epoch.size() > 32) return false;
    for (char c : epoch) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

Result<Cursor> parseCursor(std::string_view text) {
    if (text.size() > kMaxCursorLength) {
        return cursorError("resume position is " + std::to_string(text.size()) + " bytes; expected at most " +
                           std::to_string(kMaxCursorLength));
    }
    Cursor cursor;
    if (auto tilde = text.find('~'); tilde != std::string_view::npos) {
        std::string_view epoch = text.substr(0, tilde);
        if (!isValidEpoch(epoch)) {
            return cursorError("resume position has epoch '" + std::string(epoch) +
                               "'; expected 1-32 lowercase hex digits before '~'");
        }
        cursor.epoch = std::string(epoch);
        text.remove_prefix(tilde + 1);
    }
    if (text.empty()) {
        return cursorError("resume position is empty; expected a seq or channel@seq entries");
    }
    if (text.find('@') == std::string_view::npos) {
        auto seq = parseSeq(text);
        if (!seq) {
            return cursorError("resume position '" + std::string(text) +
                               "' is not a number; expected a seq or channel@seq entries");
        }
        cursor.all = seq;
        return cursor;
    }
    while (!text.empty()) {
        std::size_t comma = text.find(',');
        std::string_view entry = text.substr(0, comma);
        std::size_t at = entry.rfind('@');
        if (at == std::string_view::npos) {
            return cursorError("resume entry '" + std::string(entry) + "' has no '@'; expected channel@seq");
        }
        std::string_view channel = entry.substr(0, at);
        if (auto problem = channelNameProblem(channel)) {
            return cursorError("resume entry '" + std::string(entry) + "': " + *problem);
        }
        auto seq = parseSeq(entry.substr(at + 1));
        if (!seq) {
            return cursorError("resume entry '" + std::string(entry) +
                               "' has no valid seq after '@'; expected a whole number");
        }
        cursor.positions.emplace_back(std::string(channel), *seq);
        if (comma == std::string_view::npos) break;
        text.remove_prefix(comma + 1);
        if (text.empty()) return cursorError("resume position ends with ','");
    }
    return cursor;
}

void appendCursorEntry(std::string& out, std::string_view channel, std::uint64_t seq) {
    out.append(channel);
    out.push_back('@');
    char buf[24];
    auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, seq);
    (void)ec;
    out.append(buf, ptr);
}

std::string formatCursor(const Cursor& cursor) {
    std::string out;
    if (!cursor.epoch.empty()) {
        out += cursor.epoch;
        out.push_back('~');
    }
    if (cursor.positions.empty()) {
        out += std::to_string(cursor.all.value_or(0));
        return out;
    }
    bool first = true;
    for (const auto& [channel, seq] : cursor.positions) {
        if (!first) out.push_back(',');
        first = false;
        appendCursorEntry(out, channel, seq);
    }
    return out;
}

}  // namespace pushwire::protocol
