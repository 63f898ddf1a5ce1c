#include "pushwire/protocol/frames.hpp"

#include <catch2/catch.hpp>

#include "pushwire/protocol/presence.hpp"

using namespace pushwire::protocol;

TEST_CASE("client frames decode: subscribe, unsubscribe, publish, ping") {
    auto sub = decodeClientFrame(R"({"type":"subscribe","channels":["a","b"],"since":"e~a@3","id":7})");
    REQUIRE(sub.ok());
    CHECK(sub->type == ClientFrameType::Subscribe);
    CHECK(sub->channels == std::vector<std::string>{"a", "b"});
    CHECK(sub->since == std::string("e~a@3"));
    CHECK(sub->idJson == "7");

    auto one = decodeClientFrame(R"({"type":"subscribe","channel":"a","since":5})");
    REQUIRE(one.ok());
    CHECK(one->since == std::string("5"));

    auto pub = decodeClientFrame(R"({"type":"publish","channel":"a","data":{"x":[1,2]},"id":"p1"})");
    REQUIRE(pub.ok());
    CHECK(pub->dataJson == R"({"x":[1,2]})");
    CHECK(pub->idJson == R"("p1")");

    auto unsub = decodeClientFrame(R"({"type":"unsubscribe","channels":["a"]})");
    REQUIRE(unsub.ok());
    CHECK(unsub->type == ClientFrameType::Unsubscribe);
    CHECK(decodeClientFrame(R"({"type":"ping"})").ok());
}

TEST_CASE("bad client frames name what is wrong") {
    struct Case {
        const char* text;
        ErrorCode code;
    };
    for (Case c :
         {Case{"not json", ErrorCode::BadJson}, Case{"[1]", ErrorCode::BadType},
          Case{R"({"channel":"a"})", ErrorCode::MissingField}, Case{R"({"type":"dance"})", ErrorCode::BadRequest},
          Case{R"({"type":"subscribe"})", ErrorCode::MissingField},
          Case{R"({"type":"subscribe","channel":"a b"})", ErrorCode::BadChannel},
          Case{R"({"type":"subscribe","channel":"a","extra":1})", ErrorCode::UnknownField},
          Case{R"({"type":"subscribe","channels":"a"})", ErrorCode::BadType},
          Case{R"({"type":"subscribe","channel":"a","since":{}})", ErrorCode::BadType},
          Case{R"({"type":"publish","channel":"a"})", ErrorCode::MissingField},
          Case{R"({"type":"publish","data":1})", ErrorCode::MissingField},
          Case{R"({"type":"publish","channel":"a","data":1,"id":[1]})", ErrorCode::BadType}}) {
        INFO(c.text);
        auto frame = decodeClientFrame(c.text);
        REQUIRE_FALSE(frame.ok());
        CHECK(frame.error().code == c.code);
    }
}

TEST_CASE("publish request bodies are strict about their fields") {
    auto ok = decodePublishRequest(R"({"channel":"c","data":null})");
    REQUIRE(ok.ok());
    CHECK(ok->dataJson == "null");
    CHECK(decodePublishRequest(R"({"channel":"c","data":1,"x":2})").error().code == ErrorCode::UnknownField);
    CHECK(decodePublishRequest(R"({"channel":"c"})").error().code == ErrorCode::MissingField);
    CHECK(decodePublishRequest(R"({"channel":5,"data":1})").error().code == ErrorCode::BadType);
    CHECK(decodePublishRequest("\xff\xfe").error().code == ErrorCode::BadJson);
}

TEST_CASE("server frames round-trip through the client decoder") {
    auto msg = decodeServerFrame(encodeMessageFrame(R"({"channel":"c","seq":3,"data":[1],"time":9})"));
    REQUIRE(msg.ok());
    CHECK(msg->type == ServerFrameType::Message);
    CHECK(msg->message.seq == 3);
    CHECK(msg->message.dataJson == "[1]");

    auto gap = decodeServerFrame(encodeGapFrame(Gap{"c", 2, 5, GapReason::HistoryEvicted, ""}));
    REQUIRE(gap.ok());
    CHECK(gap->gap.to == 5u);

    auto ack = decodeServerFrame(encodeAckFrame("4", "c", 11));
    REQUIRE(ack.ok());
    CHECK(ack->idJson == "4");
    CHECK(ack->seq == 11);

    auto error = decodeServerFrame(encodeErrorFrame("4", ErrorCode::BadChannel, "nope"));
    REQUIRE(error.ok());
    CHECK(error->error.code == ErrorCode::BadChannel);
    CHECK(error->error.message == "nope");

    auto welcome = decodeServerFrame(encodeWelcomeFrame("ab12", 10000));
    REQUIRE(welcome.ok());
    CHECK(welcome->epoch == "ab12");
    CHECK(welcome->heartbeatMs == 10000);
}

TEST_CASE("poll responses and error bodies decode") {
    auto poll = decodePollResponse(
        R"({"messages":[{"channel":"c","seq":1,"data":"x","time":1}],"gaps":[{"channel":"c","from":1,"to":null,"reason":"epoch_changed"}],"cursor":"e~c@1"})");
    REQUIRE(poll.ok());
    CHECK(poll->messages.size() == 1);
    CHECK(poll->gaps.size() == 1);
    CHECK(poll->cursor == "e~c@1");
    auto error = decodePollResponse(errorBody(ErrorCode::BadCursor, "bad"));
    REQUIRE_FALSE(error.ok());
    CHECK(error.error().code == ErrorCode::BadCursor);
    CHECK(errorCodeFromName("too_large") == ErrorCode::TooLarge);
}

TEST_CASE("published data keeps its key order") {
    auto request = decodePublishRequest(R"({"channel":"c","data":{"z":1,"a":2,"m":{"y":1,"b":2}}})");
    REQUIRE(request.ok());
    CHECK(request->dataJson == R"({"z":1,"a":2,"m":{"y":1,"b":2}})");
    auto frame = decodeClientFrame(R"({"type":"publish","channel":"c","data":{"z":1,"a":2}})");
    REQUIRE(frame.ok());
    CHECK(frame->dataJson == R"({"z":1,"a":2})");
}

TEST_CASE("presence frames: the queries decode, the entries and answers encode as docs/protocol.md says") {
    auto presence = decodeClientFrame(R"({"type":"presence","channel":"room","id":5})");
    REQUIRE(presence.ok());
    CHECK(presence->type == ClientFrameType::Presence);
    CHECK(presence->channel == "room");
    CHECK(presence->idJson == "5");
    auto stats = decodeClientFrame(R"({"type":"presence_stats","channel":"room"})");
    REQUIRE(stats.ok());
    CHECK(stats->type == ClientFrameType::PresenceStats);
    CHECK(decodeClientFrame(R"({"type":"presence"})").error().code == ErrorCode::MissingField);
    CHECK(decodeClientFrame(R"({"type":"presence","channel":"a b"})").error().code == ErrorCode::BadChannel);
    CHECK(decodeClientFrame(R"({"type":"presence","channel":"a","x":1})").error().code == ErrorCode::UnknownField);

    const std::string member = encodeMember(Member{"c1", "al\"ice", R"({"n":1})"});
    CHECK(member == R"({"client":"c1","user":"al\"ice","info":{"n":1}})");
    const std::string entry = encodeJoinLeaveEntry("room", 17, EntryEvent::Join, member, 99);
    CHECK(entry == R"({"channel":"room","seq":17,"event":"join","member":)" + member + R"(,"time":99})");
    CHECK(entryEventOf(entry) == EntryEvent::Join);
    CHECK(entryEventOf(encodeJoinLeaveEntry("room", 1, EntryEvent::Leave, member, 1)) == EntryEvent::Leave);
    // A message whose data mentions an event is still a message.
    CHECK(entryEventOf(R"({"channel":"room","seq":3,"data":{"event":"join"},"time":1})") == EntryEvent::Message);
    CHECK(encodeMessageFrame(entry, "join").rfind(R"({"type":"join","channel":"room","seq":17,)", 0) == 0);
    CHECK(encodeWelcomeFrame("e", 1000, "abc").find(R"("client":"abc")") != std::string::npos);
    CHECK(encodePresenceAnswer("presence", "5", "room", member, "e~room@17", true) ==
          R"({"type":"presence","channel":"room","members":[)" + member +
              R"(],"position":"e~room@17","truncated":true,"id":5})");
    CHECK(encodePresenceStatsAnswer("", "", "room", 3, 2) == R"({"channel":"room","clients":3,"users":2})");
}
