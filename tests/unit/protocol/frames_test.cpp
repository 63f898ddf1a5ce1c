#include "pushwire/protocol/frames.hpp"

#include <catch2/catch.hpp>

#include "pushwire/protocol/presence.hpp"

namespace frames_test {

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

TEST_CASE("presence on the wire: join and leave entries, presence answers, the client id") {
    SECTION("a join entry round-trips with its member; its data is null whatever it says") {
        Envelope entry{"c", 17, "null", 5};
        entry.event = EntryEvent::Join;
        entry.member = Member{"0123456789abcdef0123456789abcdef", "alice", R"({"name":"Alice"})"};
        const std::string text = encodeEnvelope(entry);
        CHECK(
            text ==
            R"({"channel":"c","seq":17,"event":"join","member":{"client":"0123456789abcdef0123456789abcdef","user":"alice","info":{"name":"Alice"}},"time":5})");
        auto back = decodeEnvelope(text);
        REQUIRE(back.ok());
        CHECK(back->event == EntryEvent::Join);
        CHECK(back->member.user == "alice");
        CHECK(back->member.infoJson == R"({"name":"Alice"})");
        auto withData = decodeEnvelope(R"({"channel":"c","seq":1,"event":"leave","member":{"client":"a"},"data":7})");
        REQUIRE(withData.ok());
        CHECK(withData->event == EntryEvent::Leave);
        CHECK(withData->dataJson == "null");
        CHECK(withData->member.infoJson == "null");
    }
    SECTION("an entry with another event or no member is refused") {
        CHECK_FALSE(decodeEnvelope(R"({"channel":"c","seq":1,"event":"wave","member":{"client":"a"}})").ok());
        CHECK_FALSE(decodeEnvelope(R"({"channel":"c","seq":1,"event":"join"})").ok());
        CHECK_FALSE(decodeEnvelope(R"({"channel":"c","seq":1,"event":"join","member":{"user":"u"}})").ok());
    }
    SECTION("WebSocket join and leave frames, and the welcome's client") {
        auto join = decodeServerFrame(
            R"({"type":"join","channel":"c","seq":3,"event":"join","member":{"client":"a"},"time":1})");
        REQUIRE(join.ok());
        CHECK(join->type == ServerFrameType::Join);
        CHECK(join->message.seq == 3);
        CHECK(join->message.member.client == "a");
        auto leave =
            decodeServerFrame(R"({"type":"leave","channel":"c","seq":4,"event":"leave","member":{"client":"a"}})");
        REQUIRE(leave.ok());
        CHECK(leave->type == ServerFrameType::Leave);
        auto welcome =
            decodeServerFrame(R"({"type":"welcome","protocol":1,"epoch":"e","heartbeat_ms":5,"client":"abc"})");
        REQUIRE(welcome.ok());
        CHECK(welcome->clientId == "abc");
        auto sse = decodeWelcome(R"({"epoch":"e","heartbeat_ms":5,"client":"abc"})");
        REQUIRE(sse.ok());
        CHECK(sse->clientId == "abc");
        auto poll = decodePollResponse(
            R"({"messages":[{"channel":"c","seq":2,"event":"join","member":{"client":"a"},"time":1}],"cursor":"e~c@2","client":"abc"})");
        REQUIRE(poll.ok());
        CHECK(poll->clientId == "abc");
        CHECK(poll->messages[0].event == EntryEvent::Join);
    }
    SECTION("presence answers: members with the position, or the numbers") {
        auto members = decodePresenceAnswer(
            R"({"channel":"c","members":[{"client":"a","user":"u","info":[1]},{"client":"b","user":"","info":null}],"position":"e~c@9","truncated":true})");
        REQUIRE(members.ok());
        CHECK_FALSE(members->stats);
        REQUIRE(members->members.size() == 2);
        CHECK(members->members[0].infoJson == "[1]");
        CHECK(members->position == "e~c@9");
        CHECK(members->truncated);
        auto stats = decodeServerFrame(R"({"type":"presence_stats","channel":"c","clients":3,"users":2,"id":4})");
        REQUIRE(stats.ok());
        CHECK(stats->type == ServerFrameType::PresenceStats);
        CHECK(stats->idJson == "4");
        CHECK(stats->presence.stats);
        CHECK(stats->presence.clients == 3);
        CHECK(stats->presence.users == 2);
        CHECK_FALSE(decodePresenceAnswer(R"({"members":[{"user":"x"}]})").ok());
        CHECK_FALSE(decodePresenceAnswer(R"({"clients":1})").ok());
        auto refused = decodePresenceAnswer(errorBody(ErrorCode::Forbidden, "no"));
        REQUIRE_FALSE(refused.ok());
        CHECK(refused.error().code == ErrorCode::Forbidden);
        CHECK(encodePresenceQueryFrame("c", true, "7") == R"({"type":"presence_stats","channel":"c","id":7})");
    }
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

TEST_CASE("what the server API did to a client decodes: frames, SSE data, poll answers and the 409") {
    auto subscribed = decodeServerFrame(R"({"type":"subscribed","channels":["c"],"cursor":"e~c@4","server":true})");
    REQUIRE(subscribed.ok());
    CHECK(subscribed->byServer);
    CHECK(subscribed->channels == std::vector<std::string>{"c"});
    auto own = decodeServerFrame(R"({"type":"subscribed","channels":["c"],"cursor":"e~c@4","id":1})");
    REQUIRE(own.ok());
    CHECK_FALSE(own->byServer);
    auto unsubscribed = decodeServerFrame(R"({"type":"unsubscribed","channels":["c","d"],"server":true})");
    REQUIRE(unsubscribed.ok());
    CHECK(unsubscribed->type == ServerFrameType::Unsubscribed);
    CHECK(unsubscribed->byServer);
    CHECK(unsubscribed->channels == std::vector<std::string>{"c", "d"});

    auto poll = decodePollResponse(
        R"({"messages":[],"gaps":[],"cursor":"e~a@1,b@0","more":false,"unsubscribed":["c"],"subscribed":["b"]})");
    REQUIRE(poll.ok());
    CHECK(poll->subscribed == std::vector<std::string>{"b"});
    CHECK(poll->unsubscribed == std::vector<std::string>{"c"});

    auto sse = decodeServerAction(R"({"channels":["c"],"server":true})");
    REQUIRE(sse.ok());
    CHECK(sse->channels == std::vector<std::string>{"c"});
    CHECK_FALSE(sse->reconnect);
    auto back = decodeServerAction(R"({"reconnect":true})");
    REQUIRE(back.ok());
    CHECK(back->reconnect);
    auto refused = decodeServerAction(
        R"({"error":{"code":"disconnected","message":"disconnected by the server","reconnect":true}})");
    REQUIRE(refused.ok());
    CHECK(refused->reconnect);
    auto stay = decodeServerAction(R"({"error":{"code":"disconnected","message":"m","reconnect":false}})");
    REQUIRE(stay.ok());
    CHECK_FALSE(stay->reconnect);
    CHECK_FALSE(decodeServerAction("not json").ok());
}

}  // namespace frames_test
