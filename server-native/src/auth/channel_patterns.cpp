#include "auth/channel_patterns.hpp"

#include "pushwire/protocol/channel_name.hpp"

namespace pushwire::server {

namespace {

std::optional<std::string> patternProblem(std::string_view pattern) {
    if (pattern.empty()) return std::string("an empty channel pattern");
    std::string withoutStars;
    for (char c : pattern) {
        if (c != '*') withoutStars.push_back(c);
    }
    if (withoutStars.empty()) return std::nullopt;  // "*", "**": every channel
    if (auto problem = protocol::channelNameProblem(withoutStars)) {
        return "channel pattern '" + std::string(pattern.substr(0, 64)) + "': " + *problem;
    }
    return std::nullopt;
}

}  // namespace

bool patternMatches(std::string_view pattern, std::string_view channel) {
    // Greedy glob with one backtrack point: the last star seen.
    std::size_t p = 0, c = 0, star = std::string_view::npos, mark = 0;
    while (c < channel.size()) {
        if (p < pattern.size() && pattern[p] != '*' && pattern[p] == channel[c]) {
            ++p;
            ++c;
        } else if (p < pattern.size() && pattern[p] == '*') {
            star = p++;
            mark = c;
        } else if (star != std::string_view::npos) {
            p = star + 1;
            c = ++mark;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '*') ++p;
    return p == pattern.size();
}

std::optional<ChannelPatterns> ChannelPatterns::fromList(const std::vector<std::string>& patterns,
                                                         std::string* problem) {
    ChannelPatterns out;
    for (const std::string& pattern : patterns) {
        if (auto bad = patternProblem(pattern)) {
            if (problem) *problem = *bad;
            return std::nullopt;
        }
        out.patterns_.push_back(pattern);
    }
    return out;
}

std::optional<ChannelPatterns> ChannelPatterns::parse(std::string_view text, std::string* problem) {
    std::vector<std::string> patterns;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t comma = text.find(',', start);
        if (comma == std::string_view::npos) comma = text.size();
        std::string_view item = text.substr(start, comma - start);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        if (!item.empty()) patterns.emplace_back(item);
        start = comma + 1;
    }
    return fromList(patterns, problem);
}

bool ChannelPatterns::matches(std::string_view channel) const {
    for (const std::string& pattern : patterns_) {
        if (patternMatches(pattern, channel)) return true;
    }
    return false;
}

void ChannelPatterns::add(const ChannelPatterns& more) {
    patterns_.insert(patterns_.end(), more.patterns_.begin(), more.patterns_.end());
}

}  // namespace pushwire::server
