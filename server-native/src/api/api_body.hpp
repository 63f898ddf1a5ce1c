// The JSON object body of a server API call, read field by field: each reader says what
// was expected of the field and what was seen, and fields the method does not know are
// refused, so that a typo (`chanel`) is an error, not an ignored option.
//
// Threading: any; a value type.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "pushwire/protocol/errors.hpp"
#include "pushwire/protocol/result.hpp"

namespace pushwire::server::api {

class ApiBody {
public:
    // An empty body is {}. Errors: bad_request (not JSON, not an object).
    static protocol::Result<ApiBody> parse(std::string_view text);

    // Each reader returns the field's value (nullopt when absent or null) or records the
    // first problem, a bad_request naming the field (see problem()).
    std::string requiredString(const char* name, std::size_t maxLength);
    std::optional<std::string> optionalString(const char* name, std::size_t maxLength);
    std::optional<std::int64_t> optionalInteger(const char* name, std::int64_t min, std::int64_t max);
    std::optional<bool> optionalBool(const char* name);
    // A channel name (required).
    std::string channel(const char* name = "channel");

    // After reading every field the method knows: the first problem, or a field nobody
    // read (unknown to the method).
    std::optional<protocol::Error> problem() const;

private:
    explicit ApiBody(nlohmann::json object) : object_(std::move(object)) {}
    const nlohmann::json* field(const char* name);
    void fail(std::string message);

    nlohmann::json object_;
    std::set<std::string, std::less<>> read_;
    std::optional<protocol::Error> problem_;
};

}  // namespace pushwire::server::api
