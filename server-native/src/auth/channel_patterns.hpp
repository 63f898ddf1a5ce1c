// Channel patterns: exact names (user:42) and `*` as a wildcard for any run of channel
// characters (chat:*, *:public, *). A pattern uses only the channel alphabet and `*`, so
// no pattern can name, or smuggle in, a channel that is not a channel (Pusher's 2015
// channel-name injection).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pushwire::server {

class ChannelPatterns {
public:
    ChannelPatterns() = default;
    // Comma-separated (flags) or a list (token claims). Nullopt and `problem` set when a
    // pattern is malformed.
    static std::optional<ChannelPatterns> parse(std::string_view commaSeparated, std::string* problem);
    static std::optional<ChannelPatterns> fromList(const std::vector<std::string>& patterns, std::string* problem);

    bool matches(std::string_view channel) const;
    bool empty() const { return patterns_.empty(); }
    const std::vector<std::string>& patterns() const { return patterns_; }
    void add(const ChannelPatterns& more);

private:
    std::vector<std::string> patterns_;
};

// Whether `pattern` (with `*` wildcards) matches `channel`. Linear in their lengths.
bool patternMatches(std::string_view pattern, std::string_view channel);

}  // namespace pushwire::server
