#include "pushwire/protocol/cursor.hpp"

#include <catch2/catch.hpp>

namespace cursor_test {

using namespace pushwire::protocol;

namespace {

std::optional<StreamPosition> positionOf(const Cursor& cursor, const std::string& channel,
                                         const std::vector<std::string>& request) {
    auto positions = positionsFor(cursor, request);
    REQUIRE(positions.ok());
    for (std::size_t i = 0; i < request.size(); ++i) {
        if (request[i] == channel) return (*positions)[i];
    }
    return std::nullopt;
}

}  // namespace

TEST_CASE("a cursor with epoch and several channels round-trips") {
    auto parsed = parseCursor("3f2a~chat@42,news.eu:1@7");
    REQUIRE(parsed.ok());
    CHECK(parsed->epoch == "3f2a");
    REQUIRE(parsed->named.size() == 2);
    const std::vector<std::string> request = {"chat", "news.eu:1", "other"};
    CHECK(positionOf(*parsed, "chat", request)->seq == 42u);
    CHECK(positionOf(*parsed, "chat", request)->epoch == "3f2a");
    CHECK(positionOf(*parsed, "news.eu:1", request)->seq == 7u);
    CHECK_FALSE(positionOf(*parsed, "other", request));
    CHECK(formatCursor(*parsed) == "3f2a~chat@42,news.eu:1@7");
}

TEST_CASE("a bare seq applies to every channel") {
    auto parsed = parseCursor("17");
    REQUIRE(parsed.ok());
    CHECK(parsed->epoch.empty());
    CHECK(positionOf(*parsed, "anything", {"anything"})->seq == 17u);
    auto withEpoch = parseCursor("ab~0");
    REQUIRE(withEpoch.ok());
    CHECK(positionOf(*withEpoch, "x", {"x"})->seq == 0u);
    CHECK(positionOf(*withEpoch, "x", {"x"})->epoch == "ab");
}

TEST_CASE("an entry may carry its own channel's epoch") {
    auto parsed = parseCursor("aa~a@1,b@2.bb,c@3");
    REQUIRE(parsed.ok());
    const std::vector<std::string> request = {"a", "b", "c"};
    CHECK(positionOf(*parsed, "a", request)->epoch == "aa");
    CHECK(positionOf(*parsed, "b", request)->epoch == "bb");
    CHECK(positionOf(*parsed, "c", request)->epoch == "aa");
    CHECK(formatCursor(*parsed) == "aa~a@1,b@2.bb,c@3");
    auto noLeading = parseCursor("a@1.cc");
    REQUIRE(noLeading.ok());
    CHECK(positionOf(*noLeading, "a", {"a"})->epoch == "cc");
}

TEST_CASE("unnamed entries stand for the request's channels by place") {
    auto parsed = parseCursor("aa~@5,@0.bb");
    REQUIRE(parsed.ok());
    CHECK(parsed->named.empty());
    REQUIRE(parsed->byIndex.size() == 2);
    CHECK(positionOf(*parsed, "x", {"x", "y"})->seq == 5u);
    CHECK(positionOf(*parsed, "y", {"x", "y"})->epoch == "bb");
    SECTION("and a request with another number of channels is refused") {
        auto positions = positionsFor(*parsed, {"x", "y", "z"});
        REQUIRE_FALSE(positions.ok());
        CHECK(positions.error().code == ErrorCode::BadCursor);
    }
}

TEST_CASE("a cursor of many channels goes by place and stays small") {
    std::vector<std::string> names;
    std::vector<ChannelPosition> positions;
    for (int i = 0; i < 256; ++i) names.push_back("room:" + std::string(28, 'x') + ":" + std::to_string(i));
    for (int i = 0; i < 256; ++i) positions.push_back({names[static_cast<std::size_t>(i)], 1000u + i, "0badc0de"});
    std::string text = encodeCursor(positions);
    CHECK(text.size() < 256 * 8);  // 256 names of 33+ characters would be over 8.6 KB
    CHECK(text.rfind("0badc0de~@1000,@1001", 0) == 0);
    auto parsed = parseCursor(text);
    REQUIRE(parsed.ok());
    auto read = positionsFor(*parsed, names);
    REQUIRE(read.ok());
    for (std::size_t i = 0; i < names.size(); ++i) {
        CHECK((*read)[i]->seq == 1000u + i);
        CHECK((*read)[i]->epoch == "0badc0de");
    }
    SECTION("while a short one keeps its names") {
        CHECK(encodeCursor({{"a", 1, "e1"}, {"b", 2, "e2"}}) == "e1~a@1,b@2.e2");
    }
}

TEST_CASE("a cursor naming a thousand channels is read in linear time") {
    Cursor cursor;
    std::vector<std::string> request;
    for (int i = 0; i < 2000; ++i) {
        cursor.named.emplace_back("c" + std::to_string(i), StreamPosition{static_cast<std::uint64_t>(i), ""});
    }
    for (int i = 0; i < 1000; ++i) request.push_back("c" + std::to_string(2 * i));
    auto positions = positionsFor(cursor, request);
    REQUIRE(positions.ok());
    CHECK((*positions)[999]->seq == 1998u);
}

TEST_CASE("malformed cursors are refused with bad_cursor and a reason") {
    for (const char* text :
         {"", "abc", "-1", "chat@", "chat@x", "a b@1", "XYZ~chat@1", "~chat@1", "chat@1,",
          "chat@99999999999999999999999", "1.5", "chat@1,,b@2", "a@1,@2", "@1,a@2", "a@1.XY", "a@1.", "a@.ab"}) {
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
    CHECK(positionOf(*parsed, "c", {"c"})->seq == 18446744073709551615ull);
}

}  // namespace cursor_test
