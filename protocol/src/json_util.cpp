#include "json_util.hpp"

#include <algorithm>
#include <charconv>

#include "json_scan.hpp"

#ifndef PUSHWIRE_JSON_SCANNER
#include <nlohmann/json.hpp>
#endif

namespace pushwire::protocol::detail {
namespace {

#ifndef PUSHWIRE_JSON_SCANNER
using json = nlohmann::json;

// Counts nesting and stops the parse (by returning false) once it passes the limit.
class DepthCheck {
public:
    explicit DepthCheck(std::size_t maxDepth) : maxDepth_(maxDepth) {}
    bool tooDeep() const { return tooDeep_; }
    std::size_t deepest() const { return deepest_; }

    bool null() { return true; }
    bool boolean(bool) { return true; }
    bool number_integer(json::number_integer_t) { return true; }
    bool number_unsigned(json::number_unsigned_t) { return true; }
    bool number_float(json::number_float_t, const json::string_t&) { return true; }
    bool string(json::string_t&) { return true; }
    bool binary(json::binary_t&) { return true; }
    bool start_object(std::size_t) { return open(); }
    bool key(json::string_t&) { return true; }
    bool end_object() { return close(); }
    bool start_array(std::size_t) { return open(); }
    bool end_array() { return close(); }
    template <typename Exception>
    bool parse_error(std::size_t, const std::string&, const Exception&) {
        return false;
    }

private:
    bool open() {
        deepest_ = std::max(deepest_, ++depth_);
        if (depth_ <= maxDepth_) return true;
        tooDeep_ = true;
        return false;
    }
    bool close() {
        --depth_;
        return true;
    }
    std::size_t maxDepth_;
    std::size_t depth_ = 0;
    std::size_t deepest_ = 0;
    bool tooDeep_ = false;
};
#endif

std::size_t skipSpace(std::string_view t, std::size_t i) {
    while (i < t.size() && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r')) ++i;
    return i;
}

// `i` at the opening quote; returns the index after the closing one.
std::size_t stringEnd(std::string_view t, std::size_t i) {
    for (++i; i < t.size(); ++i) {
        if (t[i] == '\\') {
            ++i;
        } else if (t[i] == '"') {
            return i + 1;
        }
    }
    return t.size();
}

// `i` at a value's first character (of validated JSON); returns the index after it.
std::size_t valueEnd(std::string_view t, std::size_t i) {
    if (i >= t.size()) return i;
    if (t[i] == '"') return stringEnd(t, i);
    if (t[i] == '{' || t[i] == '[') {
        std::size_t depth = 0;
        for (; i < t.size(); ++i) {
            const char c = t[i];
            if (c == '"') {
                i = stringEnd(t, i) - 1;
            } else if (c == '{' || c == '[') {
                ++depth;
            } else if (c == '}' || c == ']') {
                if (--depth == 0) return i + 1;
            }
        }
        return t.size();
    }
    while (i < t.size() && t[i] != ',' && t[i] != '}' && t[i] != ']' && t[i] != ' ' && t[i] != '\t' && t[i] != '\n' &&
           t[i] != '\r') {
        ++i;
    }
    return i;
}

bool isDigits(std::string_view text) {
    if (text.empty()) return false;
    for (char c : text) {
        if (c < '0' || c > '9') return false;
    }
    return true;
}

}  // namespace

Error tooDeep(const char* what, std::size_t maxDepth) {
    return Error{ErrorCode::TooDeep, std::string(what) + " nests deeper than " + std::to_string(maxDepth) +
                                         " levels of arrays and objects"};
}

std::optional<Error> validateJson(std::string_view text, std::size_t maxDepth, const char* what, std::size_t* deepest) {
#ifdef PUSHWIRE_JSON_SCANNER
    const ScanResult result = scanJson(text, maxDepth, deepest);
    if (result == ScanResult::Valid) return std::nullopt;
    if (result == ScanResult::TooDeep) return tooDeep(what, maxDepth);
#else
    DepthCheck check(maxDepth);
    // nlohmann's lexer takes a NUL byte for the end of the input, so `{...}\0junk`
    // would pass: no NUL may appear anywhere (inside strings it is invalid anyway).
    const bool valid = json::sax_parse(text.begin(), text.end(), &check) && text.find('\0') == std::string_view::npos;
    if (deepest) *deepest = check.deepest();
    if (valid) return std::nullopt;
    if (check.tooDeep()) return tooDeep(what, maxDepth);
#endif
    return Error{ErrorCode::BadJson, std::string(what) + " is not valid JSON"};
}

std::vector<Member> objectMembers(std::string_view t) {
    std::vector<Member> out;
    std::size_t i = skipSpace(t, 0);
    if (i >= t.size() || t[i] != '{') return out;
    i = skipSpace(t, i + 1);
    while (i < t.size() && t[i] == '"') {
        const std::size_t keyEnd = stringEnd(t, i);
        std::string_view key = t.substr(i + 1, keyEnd - i - 2);
        i = skipSpace(t, skipSpace(t, keyEnd) + 1);  // past ':'
        const std::size_t end = valueEnd(t, i);
        out.push_back(Member{key, t.substr(i, end - i)});
        i = skipSpace(t, end);
        if (i < t.size() && t[i] == ',') i = skipSpace(t, i + 1);
    }
    return out;
}

std::vector<std::string_view> arrayElements(std::string_view t) {
    std::vector<std::string_view> out;
    std::size_t i = skipSpace(t, 0);
    if (i >= t.size() || t[i] != '[') return out;
    i = skipSpace(t, i + 1);
    while (i < t.size() && t[i] != ']') {
        const std::size_t end = valueEnd(t, i);
        out.push_back(t.substr(i, end - i));
        i = skipSpace(t, end);
        if (i < t.size() && t[i] == ',') i = skipSpace(t, i + 1);
    }
    return out;
}

namespace {

// A key as written equals `name` (keys with escapes are decoded first).
bool keyIs(std::string_view key, std::string_view name) {
    if (key.find('\\') == std::string_view::npos) return key == name;
    std::string literal = "\"" + std::string(key) + "\"";
    auto decoded = stringValue(literal);
    return decoded && *decoded == name;
}

}  // namespace

std::optional<std::string_view> Fields::find(std::string_view name) const {
    for (const Member& member : members_) {
        if (keyIs(member.key, name)) return member.value;
    }
    return std::nullopt;
}

std::optional<Error> Fields::only(std::initializer_list<const char*> allowed, std::string_view where) const {
    std::vector<int> seen(allowed.size(), 0);
    for (const Member& member : members_) {
        bool known = false;
        std::size_t index = 0;
        for (const char* name : allowed) {
            if (keyIs(member.key, name)) {
                known = true;
                if (++seen[index] > 1) {
                    return Error{ErrorCode::BadRequest,
                                 "field '" + std::string(name) + "' is given twice in " + std::string(where)};
                }
            }
            ++index;
        }
        if (!known) {
            std::string key = stringValue("\"" + std::string(member.key) + "\"").value_or(std::string(member.key));
            return Error{ErrorCode::UnknownField, "unknown field '" + key + "' in " + std::string(where)};
        }
    }
    return std::nullopt;
}

bool isString(std::string_view value) { return !value.empty() && value.front() == '"'; }
bool isObject(std::string_view value) { return !value.empty() && value.front() == '{'; }
bool isArray(std::string_view value) { return !value.empty() && value.front() == '['; }
bool isNull(std::string_view value) { return value == "null"; }

std::optional<std::string> stringValue(std::string_view value) {
    if (!isString(value) || value.size() < 2) return std::nullopt;
    std::string_view inner = value.substr(1, value.size() - 2);
    if (inner.find('\\') == std::string_view::npos) return std::string(inner);
    return decodeJsonString(value);
}

std::optional<std::uint64_t> unsignedValue(std::string_view value) {
    if (!isDigits(value)) return std::nullopt;
    std::uint64_t out = 0;
    auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
    if (ec != std::errc() || ptr != value.data() + value.size()) return std::nullopt;
    return out;
}

std::optional<std::int64_t> integerValue(std::string_view value) {
    std::string_view digits = !value.empty() && value.front() == '-' ? value.substr(1) : value;
    if (!isDigits(digits)) return std::nullopt;
    std::int64_t out = 0;
    auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
    if (ec != std::errc() || ptr != value.data() + value.size()) return std::nullopt;
    return out;
}

std::optional<bool> boolValue(std::string_view value) {
    if (value == "true") return true;
    if (value == "false") return false;
    return std::nullopt;
}

std::string quote(std::string_view text) { return quoteJsonString(text); }

}  // namespace pushwire::protocol::detail
