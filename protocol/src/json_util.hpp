// Helpers around nlohmann::json that never throw (the client is built with
// -fno-exceptions). Private to the protocol library.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace pushwire::protocol::detail {

// ordered_json: a message's data keeps the key order its publisher gave it.
using json = nlohmann::ordered_json;

inline json parseJson(std::string_view text) {
    return json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
}

inline std::string dumpJson(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

inline const json* field(const json& object, const char* name) {
    auto it = object.find(name);
    return it == object.end() ? nullptr : &*it;
}

inline std::optional<std::uint64_t> asSeq(const json* value) {
    if (value == nullptr) return std::nullopt;
    if (value->is_number_unsigned()) return value->get<std::uint64_t>();
    if (value->is_number_integer() && value->get<std::int64_t>() >= 0) {
        return static_cast<std::uint64_t>(value->get<std::int64_t>());
    }
    return std::nullopt;
}

inline std::optional<std::string> asString(const json* value) {
    if (value == nullptr || !value->is_string()) return std::nullopt;
    return value->get<std::string>();
}

// JSON string literal for `text` (quotes and escapes).
inline std::string quote(std::string_view text) { return dumpJson(json(std::string(text))); }

}  // namespace pushwire::protocol::detail

#include "pushwire/protocol/envelope.hpp"

namespace pushwire::protocol::detail {

// The one decoder of each object, whether it arrives alone, in a frame or in a batch.
Result<Envelope> envelopeFromJson(const json& value);
Result<Gap> gapFromJson(const json& value);

}  // namespace pushwire::protocol::detail
