#include "front/log.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <stdexcept>

namespace pushwire::server::log {

namespace {

Level gLevel = Level::Info;
bool gJson = false;
bool gAccess = false;

struct Budget {
    std::int64_t second = 0;
    int used = 0;
    long long dropped = 0;
};
std::map<std::string, Budget, std::less<>> gBudgets;

const char* levelName(Level level) {
    switch (level) {
        case Level::Error: return "error";
        case Level::Warn: return "warn";
        case Level::Info: return "info";
        case Level::Debug: return "debug";
    }
    return "?";
}

std::string timestamp(std::chrono::system_clock::time_point now) {
    const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char text[64];
    std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                  utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(ms));
    return text;
}

// JSON string body (also used for text values that need quoting): control characters,
// quotes and backslashes escaped; other bytes as they are.
void appendEscaped(std::string& out, std::string_view value) {
    for (unsigned char c : value) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(static_cast<char>(c));
        } else if (c < 0x20) {
            char code[8];
            std::snprintf(code, sizeof code, "\\u%04x", c);
            out += code;
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
}

bool plain(std::string_view value) {
    if (value.empty()) return false;
    for (unsigned char c : value) {
        if (c <= ' ' || c == '"' || c == '\\' || c == '=' || c >= 0x7f) return false;
    }
    return true;
}

std::string jsonLine(Level level, std::string_view event, std::initializer_list<Field> fields) {
    std::string line;
    line.reserve(160);
    line += "{\"time\":\"" + timestamp(std::chrono::system_clock::now()) + "\",\"level\":\"" + levelName(level) +
            "\",\"event\":\"";
    appendEscaped(line, event);
    line += '"';
    for (const Field& f : fields) {
        line += ",\"";
        appendEscaped(line, f.key);
        line += "\":";
        if (f.number || f.json) {
            line += f.value;
        } else {
            line += '"';
            appendEscaped(line, f.value);
            line += '"';
        }
    }
    line += "}\n";
    return line;
}

void emit(Level level, std::string_view event, std::initializer_list<Field> fields) {
    if (gJson) {
        const std::string line = jsonLine(level, event, fields);
        std::fwrite(line.data(), 1, line.size(), stderr);
        return;
    }
    std::string line;
    line.reserve(160);
    line += timestamp(std::chrono::system_clock::now());
    line += ' ';
    line += levelName(level);
    line += ' ';
    line += event;
    for (const Field& f : fields) {
        line += ' ';
        line += f.key;
        line += '=';
        if (f.number || plain(f.value)) {
            line += f.value;
        } else {
            line += '"';
            appendEscaped(line, f.value);
            line += '"';
        }
    }
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace

void configure(std::string_view level, std::string_view format, bool accessLog) {
    if (level == "error") gLevel = Level::Error;
    else if (level == "warn") gLevel = Level::Warn;
    else if (level == "info") gLevel = Level::Info;
    else if (level == "debug") gLevel = Level::Debug;
    else throw std::invalid_argument("--log-level must be error, warn, info or debug");
    if (format == "text") gJson = false;
    else if (format == "json") gJson = true;
    else throw std::invalid_argument("--log-format must be text or json");
    gAccess = accessLog;
}

bool enabled(Level level) { return static_cast<int>(level) <= static_cast<int>(gLevel); }
bool access() { return gAccess; }

Field num(std::string_view key, long long value) { return Field{key, std::to_string(value), true}; }

Field json(std::string_view key, std::string value) { return Field{key, std::move(value), false, true}; }

Field list(std::string_view key, const std::vector<std::string>& values) {
    std::string out = "[";
    for (const std::string& value : values) {
        if (out.size() > 1) out += ',';
        out += '"';
        appendEscaped(out, value);
        out += '"';
    }
    return json(key, out + "]");
}

void announce(Level level, std::string_view event, const std::string& text, std::initializer_list<Field> fields) {
    const std::string line = gJson ? jsonLine(level, event, fields) : "pushwire-server " + text + "\n";
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fflush(stdout);
}

void write(Level level, std::string_view event, std::initializer_list<Field> fields, bool limited) {
    if (!enabled(level)) return;
    if (limited) {
        const std::int64_t second =
            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch())
                .count();
        auto it = gBudgets.find(event);
        if (it == gBudgets.end()) it = gBudgets.emplace(std::string(event), Budget{}).first;
        Budget& budget = it->second;
        if (budget.second != second) {
            if (budget.dropped > 0) {
                emit(Level::Warn, "suppressed", {Field{"of", std::string(event)}, num("lines", budget.dropped)});
            }
            budget = Budget{second, 0, 0};
        }
        if (budget.used >= kBurstPerSecond) {
            ++budget.dropped;
            return;
        }
        ++budget.used;
    }
    emit(level, event, fields);
}

}  // namespace pushwire::server::log
