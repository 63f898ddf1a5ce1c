#include "pushwire/protocol/channel_name.hpp"

#include <catch2/catch.hpp>

namespace channel_name_test {

using namespace pushwire::protocol;

TEST_CASE("channel names of 1-200 allowed characters are valid") {
    CHECK(isValidChannelName("chat"));
    CHECK(isValidChannelName("a"));
    CHECK(isValidChannelName("Room_1-b.c:d"));
    CHECK(isValidChannelName(std::string(200, 'x')));
}

TEST_CASE("channel names outside the rules are refused with a sentence") {
    CHECK_FALSE(isValidChannelName(""));
    CHECK_FALSE(isValidChannelName(std::string(201, 'x')));
    CHECK_FALSE(isValidChannelName("a b"));
    CHECK_FALSE(isValidChannelName("a/b"));
    CHECK_FALSE(isValidChannelName("caf\xc3\xa9"));
    CHECK_FALSE(isValidChannelName("a@b"));
    CHECK_FALSE(isValidChannelName(std::string("a\0b", 3)));
    REQUIRE(channelNameProblem("a/b"));
    CHECK_THAT(*channelNameProblem("a/b"), Catch::Contains("'/'"));
    CHECK_THAT(*channelNameProblem(""), Catch::Contains("empty"));
    CHECK_THAT(*channelNameProblem(std::string(300, 'x')), Catch::Contains("300"));
    CHECK_FALSE(channelNameProblem("ok"));
}

}  // namespace channel_name_test
