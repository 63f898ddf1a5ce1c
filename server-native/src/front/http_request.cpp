#include "front/http_request.hpp"

#include <strings.h>

namespace pushwire::server {
namespace {

int hexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool decode(std::string_view in, bool plusIsSpace, std::string& out) {
    // Most names and values (a token, a cursor) have nothing to decode: one copy. (One
    // pass by hand: find_first_of calls memchr on the set for every character.)
    bool plain = true;
    for (char c : in) {
        if (c == '%' || (c == '+' && plusIsSpace)) {
            plain = false;
            break;
        }
    }
    if (plain) {
        out.assign(in);
        return true;
    }
    out.clear();
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '%') {
            if (i + 2 >= in.size()) return false;
            int hi = hexValue(in[i + 1]);
            int lo = hexValue(in[i + 2]);
            if (hi < 0 || lo < 0) return false;
            out.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else if (c == '+' && plusIsSpace) {
            out.push_back(' ');
        } else {
            out.push_back(c);
        }
    }
    return true;
}

}  // namespace

std::string_view HttpRequest::header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
        if (key.size() == name.size() && strncasecmp(key.data(), name.data(), name.size()) == 0) {
            return value;
        }
    }
    return {};
}

const std::string* HttpRequest::param(std::string_view key) const {
    for (const auto& [k, v] : query) {
        if (k == key) return &v;
    }
    return nullptr;
}

std::vector<std::string> HttpRequest::params(std::string_view key) const {
    std::vector<std::string> values;
    for (const auto& [k, v] : query) {
        if (k == key) values.push_back(v);
    }
    return values;
}

bool splitTarget(std::string_view target, std::string& path, std::vector<std::pair<std::string, std::string>>& query) {
    std::size_t mark = target.find('?');
    if (!decode(target.substr(0, mark), false, path)) return false;
    if (mark == std::string_view::npos) return true;
    std::string_view rest = target.substr(mark + 1);
    query.reserve(4);  // channel, since, token...: one allocation
    if (auto hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
    while (!rest.empty()) {
        std::size_t amp = rest.find('&');
        std::string_view pair = rest.substr(0, amp);
        if (!pair.empty()) {
            std::size_t eq = pair.find('=');
            std::string key, value;
            if (!decode(pair.substr(0, eq), true, key)) return false;
            if (eq != std::string_view::npos && !decode(pair.substr(eq + 1), true, value)) {
                return false;
            }
            query.emplace_back(std::move(key), std::move(value));
        }
        if (amp == std::string_view::npos) break;
        rest.remove_prefix(amp + 1);
    }
    return true;
}

}  // namespace pushwire::server
