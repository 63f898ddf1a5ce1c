#include "pushwire/protocol/envelope.hpp"

#include <catch2/catch.hpp>

namespace envelope_test {

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

TEST_CASE("envelope data is carried as the publisher wrote it: non-ASCII, escapes and spacing intact") {
    std::string data = R"({"s": "h\u00e9llo \"q\" \\ \n 日本 😀", "n" : [1, 2.50]})";
    auto back = decodeEnvelope(encodeEnvelope(Envelope{"c", 1, data, 0}));
    REQUIRE(back.ok());
    CHECK(back->dataJson == data);
}

TEST_CASE("data nested far deeper than any stack reads without recursion") {
    std::string deep = std::string(200000, '[') + std::string(200000, ']');
    auto back = decodeEnvelope(R"({"channel":"c","seq":3,"data":)" + deep + R"(,"time":5})");
    REQUIRE(back.ok());
    CHECK(back->seq == 3);
    CHECK(back->dataJson.size() == deep.size());
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
    CHECK(encodeGap(Gap{"c", 5, 9, GapReason::HistoryEvicted, ""}) ==
          R"({"channel":"c","from":5,"to":9,"reason":"evicted"})");
    std::string unknown = encodeGap(Gap{"c", 5, std::nullopt, GapReason::EpochChanged, "0badc0de"});
    CHECK(unknown == R"({"channel":"c","from":5,"to":null,"reason":"epoch_changed","epoch":"0badc0de"})");
    auto back = decodeGap(unknown);
    REQUIRE(back.ok());
    CHECK_FALSE(back->to);
    CHECK(back->reason == GapReason::EpochChanged);
    CHECK(back->epoch == "0badc0de");
}

}  // namespace envelope_test
