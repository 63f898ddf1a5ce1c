// Reading JSON from outside without building a document: nlohmann's SAX parser validates
// the text (iterative, so no nesting exhausts a stack; UTF-8 checked; linear in the size;
// in the browser module json_scan.hpp's scanner, which accepts the same), then the members of the objects we need are
// split out of the validated text as spans. A message's data is never parsed into a tree nor serialized again: it is
// carried as the publisher's own text.
//
// Why not nlohmann's DOM: ordered_json inserts each key with a linear search (one 59 KB
// object of 6,000 keys took 60 ms, 4.7 MB took 237 s), its serializer recurses, and a
// parse-then-dump of every message costs both sides time. Private to the protocol library;
// never throws (the client is built with -fno-exceptions).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pushwire/protocol/envelope.hpp"
#include "pushwire/protocol/result.hpp"

namespace pushwire::protocol::detail {

// Validates `text` as exactly one JSON value nesting at most `maxDepth` arrays and
// objects deep (bad_json, too_deep). `deepest`, when given, gets the deepest nesting.
std::optional<Error> validateJson(std::string_view text, std::size_t maxDepth, const char* what,
                                  std::size_t* deepest = nullptr);
Error tooDeep(const char* what, std::size_t maxDepth);

// One member of an object: the key as written (without quotes, escapes kept) and the
// value's text.
struct Member {
    std::string_view key;
    std::string_view value;
};

// These take text that validateJson accepted (or a value inside it).
std::vector<Member> objectMembers(std::string_view object);
std::vector<std::string_view> arrayElements(std::string_view array);

// The members of a validated object, by name. Objects we read have a handful of members;
// lookups are linear, and a member named twice is refused by only().
class Fields {
public:
    explicit Fields(std::string_view object) : members_(objectMembers(object)) {}
    // The value of `name`, or nullopt.
    std::optional<std::string_view> find(std::string_view name) const;
    // An error naming the first member outside `allowed`, or one given twice.
    std::optional<Error> only(std::initializer_list<const char*> allowed, std::string_view where) const;

private:
    std::vector<Member> members_;
};

bool isString(std::string_view value);
bool isObject(std::string_view value);
bool isArray(std::string_view value);
bool isNull(std::string_view value);
// The string a JSON string literal stands for; nullopt when `value` is not a string.
std::optional<std::string> stringValue(std::string_view value);
// A non-negative integer written without fraction or exponent.
std::optional<std::uint64_t> unsignedValue(std::string_view value);
// An integer written without fraction or exponent, within int64.
std::optional<std::int64_t> integerValue(std::string_view value);
std::optional<bool> boolValue(std::string_view value);

// JSON string literal for `text` (quotes and escapes).
std::string quote(std::string_view text);

// The one decoder of each object, whether it arrives alone, in a frame or in a batch.
// `object` is validated text.
Result<Envelope> envelopeFromJson(std::string_view object);
Result<Gap> gapFromJson(std::string_view object);
// {"client":"...","user":"...","info":...}; nullopt without a string client.
std::optional<protocol::Member> memberFromJson(std::string_view object);

// What a client accepts from a server: any nesting. The parser is iterative and nothing
// is built from data, so depth costs nothing; the page's JSON.parse reports what it
// cannot take to the subscription, and delivery goes on.
constexpr std::size_t kAnyDepth = static_cast<std::size_t>(-1);

}  // namespace pushwire::protocol::detail
