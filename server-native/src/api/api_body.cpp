#include "api/api_body.hpp"

#include <set>

#include "pushwire/protocol/channel_name.hpp"

namespace pushwire::server::api {

using protocol::Error;
using protocol::ErrorCode;
using json = nlohmann::json;

namespace {

const char* typeName(const json& value) {
    switch (value.type()) {
        case json::value_t::null: return "null";
        case json::value_t::boolean: return "a boolean";
        case json::value_t::number_integer:
        case json::value_t::number_unsigned: return "an integer";
        case json::value_t::number_float: return "a number with a fraction";
        case json::value_t::string: return "a string";
        case json::value_t::array: return "an array";
        case json::value_t::object: return "an object";
        default: return "something else";
    }
}

}  // namespace

protocol::Result<ApiBody> ApiBody::parse(std::string_view text) {
    std::size_t start = 0;
    while (start < text.size() &&
           (text[start] == ' ' || text[start] == '\t' || text[start] == '\r' || text[start] == '\n'))
        ++start;
    if (start == text.size()) return ApiBody(json::object());
    // A field given twice is refused, as a publish body's is (JSON parsers differ on which wins).
    std::set<std::string> keys;
    std::string twice;
    json value = json::parse(
        text,
        [&keys, &twice](int depth, json::parse_event_t event, json& parsed) {
            if (depth == 1 && event == json::parse_event_t::key && twice.empty() &&
                !keys.insert(parsed.get<std::string>()).second) {
                twice = parsed.get<std::string>();
            }
            return true;
        },
        false);
    if (value.is_discarded()) return Error{ErrorCode::BadRequest, "the body is not JSON; expected a JSON object"};
    if (!twice.empty()) {
        return Error{ErrorCode::BadRequest, "field '" + twice.substr(0, 64) + "' is given twice in the body"};
    }
    if (!value.is_object()) {
        return Error{ErrorCode::BadRequest, std::string("the body is ") + typeName(value) + "; expected a JSON object"};
    }
    return ApiBody(std::move(value));
}

void ApiBody::fail(std::string message) {
    if (!problem_) problem_ = Error{ErrorCode::BadRequest, std::move(message)};
}

const json* ApiBody::field(const char* name) {
    read_.insert(name);
    auto it = object_.find(name);
    return it == object_.end() || it->is_null() ? nullptr : &*it;
}

std::optional<std::string> ApiBody::optionalString(const char* name, std::size_t maxLength) {
    const json* value = field(name);
    if (!value) return std::nullopt;
    if (!value->is_string()) {
        fail(std::string(name) + ": expected a string, got " + typeName(*value));
        return std::nullopt;
    }
    const auto& text = value->get_ref<const std::string&>();
    if (text.size() > maxLength) {
        fail(std::string(name) + ": " + std::to_string(text.size()) + " characters; at most " +
             std::to_string(maxLength));
        return std::nullopt;
    }
    return text;
}

std::string ApiBody::requiredString(const char* name, std::size_t maxLength) {
    auto value = optionalString(name, maxLength);
    if (!value && !problem_) fail(std::string(name) + ": required (a string)");
    if (value && value->empty()) fail(std::string(name) + ": must not be empty");
    return value.value_or("");
}

std::string ApiBody::channel(const char* name) {
    std::string value = requiredString(name, protocol::kMaxChannelNameLength + 64);
    if (problem_) return value;
    if (auto why = protocol::channelNameProblem(value)) fail(std::string(name) + ": " + *why);
    return value;
}

std::optional<std::int64_t> ApiBody::optionalInteger(const char* name, std::int64_t min, std::int64_t max) {
    const json* value = field(name);
    if (!value) return std::nullopt;
    std::int64_t number = 0;
    if (value->is_number_integer()) {
        if (value->is_number_unsigned() && value->get<std::uint64_t>() > static_cast<std::uint64_t>(max)) {
            fail(std::string(name) + ": expected a whole number from " + std::to_string(min) + " to " +
                 std::to_string(max) + ", got " + value->dump());
            return std::nullopt;
        }
        number = value->get<std::int64_t>();
    } else {
        fail(std::string(name) + ": expected a whole number, got " + typeName(*value));
        return std::nullopt;
    }
    if (number < min || number > max) {
        fail(std::string(name) + ": expected a whole number from " + std::to_string(min) + " to " +
             std::to_string(max) + ", got " + std::to_string(number));
        return std::nullopt;
    }
    return number;
}

std::optional<bool> ApiBody::optionalBool(const char* name) {
    const json* value = field(name);
    if (!value) return std::nullopt;
    if (!value->is_boolean()) {
        fail(std::string(name) + ": expected true or false, got " + typeName(*value));
        return std::nullopt;
    }
    return value->get<bool>();
}

std::optional<Error> ApiBody::problem() const {
    if (problem_) return problem_;
    for (auto it = object_.begin(); it != object_.end(); ++it) {
        if (!read_.count(it.key())) {
            std::string known;
            for (const std::string& name : read_) known += (known.empty() ? "" : ", ") + name;
            return Error{ErrorCode::BadRequest, "unknown field '" + it.key().substr(0, 64) + "'; this method takes " +
                                                    (known.empty() ? std::string("no fields") : known)};
        }
    }
    return std::nullopt;
}

}  // namespace pushwire::server::api
