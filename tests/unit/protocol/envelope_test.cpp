#include "pushwire/protocol/envelope.hpp"

#include <catch2/catch.hpp>

using namespace pushwire::protocol;

TEST_CASE("an envelope serializes with channel, seq, data and time") {
    std::string text = encodeEnvelope(Envelope{"chat", 42, R"({"text":"hi"})", 1700000000000});
    CHECK(text == R"({"channel":"chat","seq":42,"data":{"text":"hi"},"time":1700000000000})");
    auto back = decodeEnvelope(text);
    REQUIRE(back.ok());
    CHECK(back->channel == "chat");
    CHECK(back->seq == 42);
    CHECK(back->dataJson == R"({"text":"hi"})");
    CHECK(back->timeMs == 1700000000000);
}

TEST_CASE("envelope data keeps non-ASCII and escapes intact") {
    std::string data = R"({"s":"h\u00e9llo \"q\" \\ \n 日本 😀"})";
    auto back = decodeEnvelope(encodeEnvelope(Envelope{"c", 1, data, 0}));
    REQUIRE(back.ok());
    CHECK(back->dataJson == R"({"s":"héllo \"q\" \\ \n 日本 😀"})");
}

TEST_CASE("a broken envelope is an error, not a crash") {
    CHECK_FALSE(decodeEnvelope("{").ok());
    CHECK_FALSE(decodeEnvelope("[]").ok());
    CHECK_FALSE(decodeEnvelope(R"({"channel":1,"seq":1})").ok());
    CHECK_FALSE(decodeEnvelope(R"({"channel":"a","seq":-1})").ok());
}

TEST_CASE("a time that is not an integer is ignored, however large") {
    // Found by the fuzz target: converting 1.8e21 to int64 was undefined behaviour.
    auto envelope = decodeEnvelope(R"({"channel":"c","seq":1,"data":1,"time":1.79568e+21})");
    REQUIRE(envelope.ok());
    CHECK(envelope->timeMs == 0);
}

TEST_CASE("gaps encode an unknown end as null") {
    CHECK(encodeGap(Gap{"c", 5, 9, GapReason::HistoryEvicted}) ==
          R"({"channel":"c","from":5,"to":9,"reason":"evicted"})");
    std::string unknown = encodeGap(Gap{"c", 5, std::nullopt, GapReason::EpochChanged});
    CHECK(unknown == R"({"channel":"c","from":5,"to":null,"reason":"epoch_changed"})");
    auto back = decodeGap(unknown);
    REQUIRE(back.ok());
    CHECK_FALSE(back->to);
    CHECK(back->reason == GapReason::EpochChanged);
}
