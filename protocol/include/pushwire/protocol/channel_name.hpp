// Channel name rules: 1-200 characters of A-Z a-z 0-9 _ - . :
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pushwire::protocol {

constexpr std::size_t kMaxChannelNameLength = 200;

bool isValidChannelName(std::string_view name);

// nullopt when valid; otherwise a sentence saying what was expected and what was seen.
std::optional<std::string> channelNameProblem(std::string_view name);

}  // namespace pushwire::protocol
