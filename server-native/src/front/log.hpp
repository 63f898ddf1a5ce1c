// The server's log: one line per event on stderr, with a level, as text or JSON
// (--log-level, --log-format, --access-log); and the lines for the operator at start and
// stop (announce(): on stdout, where scripts read the ports; JSON too under --log-format json). What a flood could
// repeat — refused requests, dropped connections — goes through a budget per event name: at most kBurstPerSecond lines
// a second, then one line saying how many were left out, so a flood cannot fill a disk. Queries are never logged (they
// may carry tokens).
//
// Threading: the loop thread (one per process).
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace pushwire::server::log {

enum class Level { Error, Warn, Info, Debug };

struct Field {
    std::string_view key;
    std::string value;
    bool number = false;  // written bare in JSON
    bool json = false;    // a JSON value (an object, a list): bare in JSON lines, quoted in text
};

constexpr int kBurstPerSecond = 20;

// Throws std::invalid_argument on an unknown level or format name.
void configure(std::string_view level, std::string_view format, bool access);
bool enabled(Level level);
bool access();
// `limited`: counts against the event's budget.
void write(Level level, std::string_view event, std::initializer_list<Field> fields, bool limited = false);
Field num(std::string_view key, long long value);
// `value` must be one JSON value (an object, a list, true): it is written as it is.
Field json(std::string_view key, std::string value);
// A JSON list of strings.
Field list(std::string_view key, const std::vector<std::string>& values);
// A line for the operator on stdout, whatever --log-level: `pushwire-server <text>` in
// text; in JSON the object of `fields` with time, level and event (no `text`).
void announce(Level level, std::string_view event, const std::string& text, std::initializer_list<Field> fields);

}  // namespace pushwire::server::log
