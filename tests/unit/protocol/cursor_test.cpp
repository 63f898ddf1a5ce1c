#include "pushwire/protocol/cursor.hpp"

#include <catch2/catch.hpp>

using namespace pushwire::protocol;

TEST_CASE("a cursor with epoch and several channels round-trips") {
    auto parsed = parseCursor("3f2a~chat@42,news.eu:1@7");
    REQUIRE(parsed.ok());
    CHECK(parsed->epoch == "3f2a");
    REQUIRE(parsed->positions.size() == 2);
    CHECK(parsed->positionOf("chat") == 42u);
    CHECK(parsed->positionOf("news.eu:1") == 7u);
    CHECK_FALSE(parsed->positionOf("other"));
    CHECK(formatCursor(*parsed) == "3f2a~chat@42,news.eu:1@7");
}

TEST_CASE("a bare seq applies to every channel") {
    auto parsed = parseCursor("17");
    REQUIRE(parsed.ok());
    CHECK(parsed->epoch.empty());
    CHECK(parsed->positionOf("anything") == 17u);
    auto withEpoch = parseCursor("ab~0");
    REQUIRE(withEpoch.ok());
    CHECK(withEpoch->positionOf("x") == 0u);
}

TEST_CASE("malformed cursors are refused with bad_cursor and a reason") {
    for (const char* text : {"", "abc", "-1", "chat@", "chat@x", "@5", "a b@1", "XYZ~chat@1", "~chat@1", "chat@1,",
                             "chat@99999999999999999999999", "1.5", "chat@1,,b@2"}) {
        INFO(text);
        auto parsed = parseCursor(text);
        REQUIRE_FALSE(parsed.ok());
        CHECK(parsed.error().code == ErrorCode::BadCursor);
        CHECK_FALSE(parsed.error().message.empty());
    }
    CHECK_FALSE(parseCursor(std::string(kMaxCursorLength + 1, '1')).ok());
}

TEST_CASE("the largest seq parses") {
    auto parsed = parseCursor("c@18446744073709551615");
    REQUIRE(parsed.ok());
    CHECK(parsed->positionOf("c") == 18446744073709551615ull);
}
