#include "json_scan.hpp"

#include <algorithm>

namespace pushwire::protocol::detail {
namespace {

constexpr std::size_t kBad = std::string_view::npos;

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool isDigit(char c) { return c >= '0' && c <= '9'; }

std::size_t skipSpace(std::string_view t, std::size_t i) {
    while (i < t.size() && isSpace(t[i])) ++i;
    return i;
}

unsigned byteAt(std::string_view t, std::size_t i) { return i < t.size() ? static_cast<unsigned char>(t[i]) : 0x100; }

// The length of the valid UTF-8 sequence (RFC 3629) starting at `i`, or 0.
std::size_t utf8Length(std::string_view t, std::size_t i) {
    const unsigned b0 = byteAt(t, i);
    auto cont = [&](std::size_t k, unsigned low = 0x80, unsigned high = 0xBF) {
        const unsigned b = byteAt(t, i + k);
        return b >= low && b <= high;
    };
    if (b0 < 0x80) return 1;
    if (b0 >= 0xC2 && b0 <= 0xDF) return cont(1) ? 2 : 0;
    if (b0 == 0xE0) return cont(1, 0xA0) && cont(2) ? 3 : 0;
    if ((b0 >= 0xE1 && b0 <= 0xEC) || b0 == 0xEE || b0 == 0xEF) return cont(1) && cont(2) ? 3 : 0;
    if (b0 == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
    if (b0 == 0xF0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
    if (b0 >= 0xF1 && b0 <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
    if (b0 == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
    return 0;
}

// At an invalid sequence: how many bytes it has before the one that breaks it (at least
// one: a byte that cannot start a sequence stands alone).
std::size_t brokenPrefix(std::string_view t, std::size_t i) {
    const unsigned b0 = byteAt(t, i);
    std::size_t needed = 1;
    unsigned low = 0x80, high = 0xBF;  // the second byte's range
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        needed = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        needed = 3;
        if (b0 == 0xE0) low = 0xA0;
        if (b0 == 0xED) high = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        needed = 4;
        if (b0 == 0xF0) low = 0x90;
        if (b0 == 0xF4) high = 0x8F;
    }
    std::size_t k = 1;
    for (; k < needed; ++k) {
        const unsigned b = byteAt(t, i + k);
        if (k == 1 ? (b < low || b > high) : (b < 0x80 || b > 0xBF)) break;
    }
    return k;
}

int hexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// The 4 hex digits at `i`, or -1.
long hex4(std::string_view t, std::size_t i) {
    if (i + 4 > t.size()) return -1;
    long value = 0;
    for (std::size_t k = 0; k < 4; ++k) {
        const int digit = hexValue(t[i + k]);
        if (digit < 0) return -1;
        value = value * 16 + digit;
    }
    return value;
}

// `i` at a backslash: the code point of the escape and the index after it (a surrogate
// pair counts as one escape), or kBad.
std::size_t escapeEnd(std::string_view t, std::size_t i, unsigned long* codePoint) {
    if (i + 1 >= t.size()) return kBad;
    const char e = t[i + 1];
    switch (e) {
        case '"': *codePoint = '"'; return i + 2;
        case '\\': *codePoint = '\\'; return i + 2;
        case '/': *codePoint = '/'; return i + 2;
        case 'b': *codePoint = '\b'; return i + 2;
        case 'f': *codePoint = '\f'; return i + 2;
        case 'n': *codePoint = '\n'; return i + 2;
        case 'r': *codePoint = '\r'; return i + 2;
        case 't': *codePoint = '\t'; return i + 2;
        case 'u': break;
        default: return kBad;
    }
    const long high = hex4(t, i + 2);
    if (high < 0 || (high >= 0xDC00 && high <= 0xDFFF)) return kBad;
    if (high < 0xD800 || high > 0xDBFF) {
        *codePoint = static_cast<unsigned long>(high);
        return i + 6;
    }
    if (i + 7 >= t.size() || t[i + 6] != '\\' || t[i + 7] != 'u') return kBad;
    const long low = hex4(t, i + 8);
    if (low < 0xDC00 || low > 0xDFFF) return kBad;
    *codePoint =
        0x10000 + ((static_cast<unsigned long>(high) - 0xD800) << 10) + (static_cast<unsigned long>(low) - 0xDC00);
    return i + 12;
}

// `i` at the opening quote: the index after the closing one, or kBad.
std::size_t stringEnd(std::string_view t, std::size_t i) {
    ++i;
    while (i < t.size()) {
        const unsigned char c = static_cast<unsigned char>(t[i]);
        if (c == '"') return i + 1;
        if (c == '\\') {
            unsigned long ignored = 0;
            i = escapeEnd(t, i, &ignored);
            if (i == kBad) return kBad;
        } else if (c < 0x20) {
            return kBad;
        } else if (c < 0x80) {
            ++i;
        } else {
            const std::size_t length = utf8Length(t, i);
            if (length == 0) return kBad;
            i += length;
        }
    }
    return kBad;
}

// 2^1024 - 2^970: the smallest decimal that rounds to infinity as a double (halfway
// between DBL_MAX and 2^1024 rounds to even, which is up).
constexpr std::string_view kOverflowDigits =
    "17976931348623158079372897140530341507993413271003782693617377898044496829276475094664901797758720709633"
    "02864166928879109465555478519404026306574886715058206819089020007083836762738548458177115317644757302700"
    "69855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792";

// Whether a number (valid JSON syntax) is too large for a double, as strtod says.
bool overflowsDouble(std::string_view number) {
    std::size_t i = number.front() == '-' ? 1 : 0;
    std::string digits;  // significant digits, leading zeros dropped
    long exponent = 0;   // the value is 0.digits * 10^exponent
    bool fraction = false;
    for (; i < number.size() && (isDigit(number[i]) || number[i] == '.'); ++i) {
        if (number[i] == '.') {
            fraction = true;
            continue;
        }
        if (digits.empty() && number[i] == '0') {
            if (fraction) --exponent;
            continue;
        }
        if (digits.size() < kOverflowDigits.size() + 1) digits += number[i];
        if (!fraction) ++exponent;
    }
    if (digits.empty()) return false;  // zero
    if (i < number.size()) {           // e or E
        ++i;
        bool negative = false;
        if (number[i] == '+' || number[i] == '-') negative = number[i++] == '-';
        long e = 0;
        for (; i < number.size(); ++i) e = std::min(e * 10 + (number[i] - '0'), 100000L);
        exponent += negative ? -e : e;
    }
    const long limit = static_cast<long>(kOverflowDigits.size());
    if (exponent != limit) return exponent > limit;
    digits.resize(std::max(digits.size(), kOverflowDigits.size()), '0');
    // More digits than the limit has (all beyond it zero or not) decide only on a tie.
    const int order = digits.compare(0, kOverflowDigits.size(), kOverflowDigits);
    return order >= 0;
}

// `i` at a number's first character: the index after it, or kBad.
std::size_t numberEnd(std::string_view t, std::size_t i) {
    const std::size_t start = i;
    if (t[i] == '-') ++i;
    if (i >= t.size()) return kBad;
    if (t[i] == '0') {
        ++i;
    } else if (t[i] >= '1' && t[i] <= '9') {
        while (i < t.size() && isDigit(t[i])) ++i;
    } else {
        return kBad;
    }
    bool isFloat = false;
    if (i < t.size() && t[i] == '.') {
        isFloat = true;
        ++i;
        if (i >= t.size() || !isDigit(t[i])) return kBad;
        while (i < t.size() && isDigit(t[i])) ++i;
    }
    if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
        isFloat = true;
        ++i;
        if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
        if (i >= t.size() || !isDigit(t[i])) return kBad;
        while (i < t.size() && isDigit(t[i])) ++i;
    }
    // Integers beyond 64 bits become doubles too (and may overflow as such).
    const std::string_view number = t.substr(start, i - start);
    const std::size_t integerDigits = number.size() - (number.front() == '-' ? 1 : 0);
    if ((isFloat || integerDigits > 19) && overflowsDouble(number)) return kBad;
    return i;
}

std::size_t literalEnd(std::string_view t, std::size_t i, std::string_view word) {
    return t.substr(i, word.size()) == word ? i + word.size() : kBad;
}

}  // namespace

ScanResult scanJson(std::string_view t, std::size_t maxDepth, std::size_t* deepest) {
    std::string open;  // the containers around the current value: '{' or '['
    std::size_t deepestSeen = 0;
    auto finish = [&](ScanResult result) {
        if (deepest) *deepest = deepestSeen;
        return result;
    };
    std::size_t i = 0;
    if (byteAt(t, 0) == 0xEF) {  // a byte order mark
        if (byteAt(t, 1) != 0xBB || byteAt(t, 2) != 0xBF) return finish(ScanResult::Invalid);
        i = 3;
    }
    i = skipSpace(t, i);
    // What comes at i: a value, what follows one (a comma or a closing bracket), or an
    // object's key.
    enum class Next { Value, After, Key } next = Next::Value;
    for (;;) {
        if (next == Next::Value) {
            if (i >= t.size()) return finish(ScanResult::Invalid);
            const char c = t[i];
            if (c == '{' || c == '[') {
                open += c;
                deepestSeen = std::max(deepestSeen, open.size());
                if (open.size() > maxDepth) return finish(ScanResult::TooDeep);
                i = skipSpace(t, i + 1);
                if (i < t.size() && t[i] == (c == '{' ? '}' : ']')) {
                    open.pop_back();
                    ++i;
                    next = Next::After;
                } else {
                    next = c == '{' ? Next::Key : Next::Value;
                }
                continue;
            }
            if (c == '"') {
                i = stringEnd(t, i);
            } else if (c == '-' || isDigit(c)) {
                i = numberEnd(t, i);
            } else if (c == 't') {
                i = literalEnd(t, i, "true");
            } else if (c == 'f') {
                i = literalEnd(t, i, "false");
            } else if (c == 'n') {
                i = literalEnd(t, i, "null");
            } else {
                return finish(ScanResult::Invalid);
            }
            if (i == kBad) return finish(ScanResult::Invalid);
            next = Next::After;
        } else if (next == Next::After) {
            i = skipSpace(t, i);
            if (open.empty()) return finish(i == t.size() ? ScanResult::Valid : ScanResult::Invalid);
            if (i >= t.size()) return finish(ScanResult::Invalid);
            if (t[i] == ',') {
                i = skipSpace(t, i + 1);
                next = open.back() == '{' ? Next::Key : Next::Value;
            } else if (t[i] == (open.back() == '{' ? '}' : ']')) {
                open.pop_back();
                ++i;
            } else {
                return finish(ScanResult::Invalid);
            }
        } else {
            if (i >= t.size() || t[i] != '"') return finish(ScanResult::Invalid);
            i = stringEnd(t, i);
            if (i == kBad) return finish(ScanResult::Invalid);
            i = skipSpace(t, i);
            if (i >= t.size() || t[i] != ':') return finish(ScanResult::Invalid);
            i = skipSpace(t, i + 1);
            next = Next::Value;
        }
    }
}

std::optional<std::string> decodeJsonString(std::string_view t) {
    if (t.size() < 2 || t.front() != '"' || stringEnd(t, 0) != t.size()) return std::nullopt;
    std::string out;
    out.reserve(t.size() - 2);
    for (std::size_t i = 1; i + 1 < t.size();) {
        if (t[i] != '\\') {
            out += t[i++];
            continue;
        }
        unsigned long cp = 0;
        i = escapeEnd(t, i, &cp);
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }
    return out;
}

std::string quoteJsonString(std::string_view t) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(t.size() + 2);
    out += '"';
    for (std::size_t i = 0; i < t.size();) {
        const unsigned char c = static_cast<unsigned char>(t[i]);
#ifdef __EMSCRIPTEN__
        // In the browser, text leaves the module only through TextDecoder, which replaces
        // invalid UTF-8 just as below: no second check in the module's code.
        if (c >= 0x80) {
            out += static_cast<char>(c);
            ++i;
            continue;
        }
#endif
        if (c >= 0x80) {
            const std::size_t length = utf8Length(t, i);
            if (length > 0) {
                out.append(t.substr(i, length));
                i += length;
                continue;
            }
            // Invalid: one replacement for the bytes that began a sequence, then the byte
            // that broke it is read again as a start of its own (as nlohmann does).
            out += "\xEF\xBF\xBD";
            i += brokenPrefix(t, i);
            continue;
        }
        ++i;
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20) {
                    out += "\\u00";
                    out += kHex[c >> 4];
                    out += kHex[c & 0xF];
                } else {
                    out += static_cast<char>(c);
                }
        }
    }
    out += '"';
    return out;
}

}  // namespace pushwire::protocol::detail
