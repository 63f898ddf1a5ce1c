#include "broker/command_health.hpp"

namespace pushwire::server {

std::string CommandHealth::shown(std::string_view error) {
    error = error.substr(0, error.find_first_of("\r\n"));
    // Redis quotes a command's arguments back only here (an unknown command or subcommand).
    if (const auto quoted = error.find(", with args beginning with"); quoted != std::string_view::npos) {
        error = error.substr(0, quoted);
    }
    std::string out;
    if (error.size() > kMaxErrorBytes) {
        std::size_t cut = kMaxErrorBytes;
        while (cut > 0 && (static_cast<unsigned char>(error[cut]) & 0xC0) == 0x80) --cut;  // a whole UTF-8 character
        out = std::string(error.substr(0, cut)) + "...";
    } else {
        out = std::string(error);
    }
    // It reaches a terminal (the start-up line, the text log): no control character of a
    // hostile or broken Redis (an escape sequence) goes through.
    for (char& c : out) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    }
    return out;
}

void CommandHealth::failed(Kind kind, std::string_view error, Clock::time_point now) {
    PerKind& one = kinds_[index(kind)];
    const bool moved = error.rfind("MOVED ", 0) == 0;
    one.movedOnly = one.streak == 0 ? moved : one.movedOnly && moved;
    ++errorReplies_;
    ++one.streak;
    one.lastErrorAt = now;
    one.lastError = shown(error);
}

void CommandHealth::reset() {
    for (PerKind& one : kinds_) one.streak = 0;
}

void CommandHealth::forgetMoved() {
    for (PerKind& one : kinds_) {
        if (one.movedOnly) one.streak = 0;
    }
}

bool CommandHealth::failing(const PerKind& kind, Clock::time_point now) const {
    return kind.streak >= kFailingAfter && now - kind.lastErrorAt < kFailingHold;
}

bool CommandHealth::failing(Clock::time_point now) const {
    for (const PerKind& one : kinds_) {
        if (failing(one, now)) return true;
    }
    return false;
}

std::string CommandHealth::state(Clock::time_point now) const {
    std::string out;
    for (Kind kind : {Kind::Write, Kind::Read}) {
        const PerKind& one = kinds_[index(kind)];
        if (!failing(one, now)) continue;
        out += out.empty() ? "failing: " : "; ";
        out += std::to_string(one.streak) + (kind == Kind::Write ? " commands that write" : " reads") +
               " in a row answered errors, the last: " + one.lastError;
    }
    return out;
}

}  // namespace pushwire::server
