// The rule that makes a connected Redis "failing" (broker/command_health.hpp), on a clock
// the test moves.
#include "broker/command_health.hpp"

#include <catch2/catch.hpp>

namespace command_health_test {

using pushwire::server::CommandHealth;
using Kind = CommandHealth::Kind;

TEST_CASE("command health: three errors in a row of one kind make a part failing, one or two never do") {
    CommandHealth health;
    const auto t0 = CommandHealth::Clock::now();
    health.failed(Kind::Write, "OOM command not allowed", t0);
    health.failed(Kind::Write, "OOM command not allowed", t0);
    CHECK_FALSE(health.failing(t0));
    CHECK(health.state(t0).empty());
    health.failed(Kind::Write, "OOM command not allowed when used memory > 'maxmemory'.\r\nmore", t0);
    CHECK(health.failing(t0));
    CHECK(health.state(t0) ==
          "failing: 3 commands that write in a row answered errors, the last: OOM command not allowed when used "
          "memory > 'maxmemory'.");
    CHECK(health.errorReplies() == 3);
}

TEST_CASE("command health: reads that succeed do not hide writes that fail, and a write that succeeds ends it") {
    CommandHealth health;
    const auto t0 = CommandHealth::Clock::now();
    for (int i = 0; i < 3; ++i) {
        health.failed(Kind::Write, "NOPERM", t0);
        health.succeeded(Kind::Read);
    }
    CHECK(health.failing(t0));
    health.succeeded(Kind::Write);
    CHECK_FALSE(health.failing(t0));
    health.failed(Kind::Write, "NOPERM", t0);
    health.failed(Kind::Write, "NOPERM", t0);
    health.succeeded(Kind::Write);
    health.failed(Kind::Write, "NOPERM", t0);
    CHECK_FALSE(health.failing(t0));  // errors among successes
}

TEST_CASE("command health: failing lapses the hold after the last error, and comes back with the next error") {
    CommandHealth health;
    const auto t0 = CommandHealth::Clock::now();
    for (int i = 0; i < 3; ++i) health.failed(Kind::Read, "LOADING Redis is loading the dataset in memory", t0);
    CHECK(health.failing(t0 + CommandHealth::kFailingHold - std::chrono::milliseconds(1)));
    CHECK_FALSE(health.failing(t0 + CommandHealth::kFailingHold));
    const auto later = t0 + CommandHealth::kFailingHold + std::chrono::seconds(5);
    health.failed(Kind::Read, "LOADING Redis is loading the dataset in memory", later);
    CHECK(health.failing(later));
    health.reset();
    CHECK_FALSE(health.failing(later));
}

TEST_CASE(
    "command health: the error shown is its first line, without arguments Redis quotes back or control characters, "
    "bounded") {
    CHECK(CommandHealth::shown("ERR unknown command 'XADDD', with args beginning with: 'secret' 'payload' ") ==
          "ERR unknown command 'XADDD'");
    CHECK(CommandHealth::shown("MISCONF one\nsecond line") == "MISCONF one");
    const std::string shown = CommandHealth::shown(std::string(500, 'x'));
    CHECK(shown.size() == CommandHealth::kMaxErrorBytes + 3);
    // Cut on a whole UTF-8 character.
    const std::string accents = CommandHealth::shown("E " + std::string(300, 'a').replace(197, 2, "\xC3\xA9"));
    CHECK(accents == "E " + std::string(197, 'a') + "...");
    // It reaches a terminal: a hostile Redis's escape sequences do not.
    CHECK(CommandHealth::shown("ERR \x1b[31mred\x1b[0m\tx\x7f\x01") == "ERR ?[31mred?[0m?x??");
    CHECK(CommandHealth::shown("ERR caf\xC3\xA9") == "ERR caf\xC3\xA9");
}

TEST_CASE("command health: MOVED in a row is forgotten when the slot map changes, other errors are not") {
    CommandHealth health;
    const auto t0 = CommandHealth::Clock::now();
    for (int i = 0; i < 3; ++i) health.failed(Kind::Write, "MOVED 3999 127.0.0.1:7002", t0);
    CHECK(health.failing(t0));  // a loop the map's re-reads do not end
    health.forgetMoved();
    CHECK_FALSE(health.failing(t0));
    health.failed(Kind::Write, "OOM command not allowed", t0);
    health.failed(Kind::Write, "MOVED 3999 127.0.0.1:7002", t0);
    health.failed(Kind::Write, "MOVED 3999 127.0.0.1:7002", t0);
    health.forgetMoved();
    CHECK(health.failing(t0));  // not only MOVED: the OOM is the master's own
    health.succeeded(Kind::Write);
    for (int i = 0; i < 3; ++i) health.failed(Kind::Read, "LOADING Redis is loading the dataset in memory", t0);
    health.forgetMoved();
    CHECK(health.failing(t0));
    CHECK(health.errorReplies() == 9);
}

}  // namespace command_health_test
