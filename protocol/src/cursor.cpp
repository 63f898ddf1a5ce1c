#include "pushwire/protocol/cursor.hpp"

#include <charconv>
#include <cstdint>
#include <unordered_map>

#include "pushwire/protocol/channel_name.hpp"

namespace pushwire::protocol {
namespace {

std::optional<std::uint64_t> parseSeq(std::string_view text) {
    if (text.empty() || text.size() > 20) return std::nullopt;
    // By hand, not std::from_chars: the browser module would carry its 0.6 KB for this.
    std::uint64_t value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        const auto digit = static_cast<std::uint64_t>(c - '0');
        if (value > (UINT64_MAX - digit) / 10) return std::nullopt;
        value = value * 10 + digit;
    }
    return value;
}

Error cursorError(std::string message) { return Error{ErrorCode::BadCursor, std::move(message)}; }

void appendSeq(std::string& out, std::uint64_t seq) {
    char buf[24];
    auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, seq);
    (void)ec;
    out.append(buf, ptr);
}

// seq [ "." epoch ]
std::optional<StreamPosition> parsePosition(std::string_view text) {
    StreamPosition position;
    if (auto dot = text.find('.'); dot != std::string_view::npos) {
        if (!isValidEpoch(text.substr(dot + 1))) return std::nullopt;
        position.epoch = std::string(text.substr(dot + 1));
        text = text.substr(0, dot);
    }
    auto seq = parseSeq(text);
    if (!seq) return std::nullopt;
    position.seq = *seq;
    return position;
}

void appendPosition(std::string& out, std::uint64_t seq, std::string_view epoch, std::string_view leading) {
    appendSeq(out, seq);
    if (!epoch.empty() && epoch != leading) {
        out.push_back('.');
        out.append(epoch);
    }
}

}  // namespace

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
        auto position = parsePosition(entry.substr(at + 1));
        if (!position) {
            return cursorError("resume entry '" + std::string(entry) +
                               "' has no valid position after '@'; expected a whole number, optionally .epoch");
        }
        if (channel.empty()) {
            if (!cursor.named.empty()) {
                return cursorError("resume entry '" + std::string(entry) +
                                   "' has no channel while others do; name every entry or none");
            }
            cursor.byIndex.push_back(std::move(*position));
        } else {
            if (!cursor.byIndex.empty()) {
                return cursorError("resume entry '" + std::string(entry) +
                                   "' names a channel while others do not; name every entry or none");
            }
            if (auto problem = channelNameProblem(channel)) {
                return cursorError("resume entry '" + std::string(entry) + "': " + *problem);
            }
            cursor.named.emplace_back(std::string(channel), std::move(*position));
        }
        if (comma == std::string_view::npos) break;
        text.remove_prefix(comma + 1);
        if (text.empty()) return cursorError("resume position ends with ','");
    }
    return cursor;
}

// Up to this many named entries, each channel is looked for by a plain loop; past it, by
// a hash map (a server answering a request that names many channels). The browser module
// only looks up its own subscriptions in the cursor its server sent, and always loops:
// the hash map's code was 2.4 KB of it.
#ifdef __EMSCRIPTEN__
constexpr std::size_t kLoopedNames = SIZE_MAX;
#else
constexpr std::size_t kLoopedNames = 4;
#endif

Result<std::vector<std::optional<StreamPosition>>> positionsFor(const Cursor& cursor,
                                                                const std::vector<std::string>& channels) {
    std::vector<std::optional<StreamPosition>> out(channels.size());
    auto withEpoch = [&cursor](StreamPosition position) {
        if (position.epoch.empty()) position.epoch = cursor.epoch;
        return position;
    };
    if (cursor.all) {
        for (auto& slot : out) slot = StreamPosition{*cursor.all, cursor.epoch};
    } else if (!cursor.byIndex.empty()) {
        if (cursor.byIndex.size() != channels.size()) {
            return cursorError("resume position has " + std::to_string(cursor.byIndex.size()) +
                               " unnamed entries for " + std::to_string(channels.size()) +
                               " channels; an unnamed entry stands for the request's channel at its place");
        }
        for (std::size_t i = 0; i < channels.size(); ++i) out[i] = withEpoch(cursor.byIndex[i]);
    } else if (cursor.named.size() <= kLoopedNames) {
        for (std::size_t i = 0; i < channels.size(); ++i) {
            for (const auto& [name, position] : cursor.named) {
                if (name == channels[i]) out[i] = withEpoch(position);
            }
        }
    } else {
        std::unordered_map<std::string_view, const StreamPosition*> byName;
        byName.reserve(cursor.named.size());
        for (const auto& [name, position] : cursor.named) byName[name] = &position;
        for (std::size_t i = 0; i < channels.size(); ++i) {
            auto it = byName.find(channels[i]);
            if (it != byName.end()) out[i] = withEpoch(*it->second);
        }
    }
    return out;
}

std::string encodeCursor(const std::vector<ChannelPosition>& positions, bool byPlace) {
    std::string out;
    std::string_view leading = positions.empty() ? std::string_view() : positions.front().epoch;
    if (!leading.empty()) {
        out.append(leading);
        out.push_back('~');
    }
    if (positions.empty()) {
        out.push_back('0');
        return out;
    }
    const std::size_t start = out.size();
    for (std::size_t i = 0; i < positions.size(); ++i) {
        if (i) out.push_back(',');
        out.append(positions[i].channel);
        out.push_back('@');
        appendPosition(out, positions[i].seq, positions[i].epoch, leading);
        if (byPlace && out.size() > kNamedCursorLimit) break;
    }
    if (!byPlace || out.size() <= kNamedCursorLimit || positions.size() == 1) return out;
    out.resize(start);
    for (std::size_t i = 0; i < positions.size(); ++i) {
        out.append(i ? ",@" : "@");
        appendPosition(out, positions[i].seq, positions[i].epoch, leading);
    }
    return out;
}

void appendSingleCursor(std::string& out, std::string_view epoch, std::string_view channel, std::uint64_t seq) {
    if (!epoch.empty()) {
        out.append(epoch);
        out.push_back('~');
    }
    out.append(channel);
    out.push_back('@');
    appendSeq(out, seq);
}

std::string formatCursor(const Cursor& cursor) {
    std::string out;
    if (!cursor.epoch.empty()) {
        out += cursor.epoch;
        out.push_back('~');
    }
    if (cursor.named.empty() && cursor.byIndex.empty()) {
        appendSeq(out, cursor.all.value_or(0));
        return out;
    }
    bool first = true;
    for (const auto& [channel, position] : cursor.named) {
        if (!first) out.push_back(',');
        first = false;
        out.append(channel);
        out.push_back('@');
        appendPosition(out, position.seq, position.epoch, cursor.epoch);
    }
    for (const StreamPosition& position : cursor.byIndex) {
        if (!first) out.push_back(',');
        first = false;
        out.push_back('@');
        appendPosition(out, position.seq, position.epoch, cursor.epoch);
    }
    return out;
}

}  // namespace pushwire::protocol
