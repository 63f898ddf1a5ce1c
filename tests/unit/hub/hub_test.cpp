#include "hub/hub.hpp"

#include <catch2/catch.hpp>

using namespace pushwire::server;
using pushwire::protocol::Cursor;
using pushwire::protocol::GapReason;

namespace {

struct Recorder final : Subscriber {
    std::vector<std::pair<std::string, std::uint64_t>> got;
    std::function<void(const MessagePtr&)> onDeliver;
    void deliver(const MessagePtr& message) override {
        got.emplace_back(message->channel, message->seq);
        if (onDeliver) onDeliver(message);
    }
};

Hub makeHub(std::size_t history = 1000) {
    return Hub(Hub::Options{history, "e1", [] { return std::int64_t{1234}; }});
}

}  // namespace

TEST_CASE("each channel numbers its messages from 1 without gaps") {
    Hub hub = makeHub();
    CHECK(hub.publish("a", "1")->get()->seq == 1);
    CHECK(hub.publish("a", "2")->get()->seq == 2);
    CHECK(hub.publish("b", "3")->get()->seq == 1);
    CHECK(hub.publish("a", "4")->get()->seq == 3);
    CHECK(hub.head("a") == 3);
    CHECK(hub.head("b") == 1);
    CHECK(hub.head("never") == 0);
    auto m = hub.publish("a", R"({"k":"v"})");
    CHECK(m->get()->envelope == R"({"channel":"a","seq":4,"data":{"k":"v"},"time":1234})");
}

TEST_CASE("publishing to an invalid channel name is refused") {
    Hub hub = makeHub();
    auto result = hub.publish("bad name", "1");
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == pushwire::protocol::ErrorCode::BadChannel);
    CHECK(hub.channelCount() == 0);
}

TEST_CASE("subscribers receive every message of their channel in order") {
    Hub hub = makeHub();
    Recorder a, b;
    hub.subscribe("x", &a);
    hub.subscribe("y", &b);
    for (int i = 0; i < 5; ++i) {
        hub.publish("x", "1");
        hub.publish("y", "1");
    }
    REQUIRE(a.got.size() == 5);
    for (std::size_t i = 0; i < 5; ++i) CHECK(a.got[i] == std::make_pair(std::string("x"), i + 1));
    CHECK(b.got.size() == 5);
    hub.unsubscribe("x", &a);
    hub.publish("x", "1");
    CHECK(a.got.size() == 5);
}

TEST_CASE("history is bounded and resume after S returns what follows S") {
    Hub hub = makeHub(3);
    for (int i = 0; i < 5; ++i) hub.publish("c", std::to_string(i));

    SECTION("resume inside the history returns the rest, no gap") {
        Backlog backlog = hub.readAfter("c", 3, 100);
        CHECK_FALSE(backlog.gap);
        REQUIRE(backlog.messages.size() == 2);
        CHECK(backlog.messages[0]->seq == 4);
        CHECK(backlog.messages[1]->seq == 5);
    }
    SECTION("resume older than the history reports the evicted range explicitly") {
        Backlog backlog = hub.readAfter("c", 0, 100);
        REQUIRE(backlog.gap);
        CHECK(backlog.gap->channel == "c");
        CHECK(backlog.gap->from == 1);
        CHECK(backlog.gap->to == 2u);
        CHECK(backlog.gap->reason == GapReason::HistoryEvicted);
        REQUIRE(backlog.messages.size() == 3);
        CHECK(backlog.messages.front()->seq == 3);
    }
    SECTION("resume exactly at the oldest held boundary has no gap") {
        Backlog backlog = hub.readAfter("c", 2, 100);
        CHECK_FALSE(backlog.gap);
        CHECK(backlog.messages.size() == 3);
    }
    SECTION("resume at the head returns nothing") {
        CHECK(hub.readAfter("c", 5, 100).messages.empty());
        CHECK(hub.readAfter("unknown", 0, 100).messages.empty());
    }
    SECTION("a limit caps the backlog") { CHECK(hub.readAfter("c", 2, 2).messages.size() == 2); }
}

TEST_CASE("resolve starts at now, at the cursor, or reports another epoch") {
    Hub hub = makeHub();
    for (int i = 0; i < 4; ++i) hub.publish("c", "1");
    auto named = [](std::string epoch, std::string channel, std::uint64_t seq) {
        Cursor cursor;
        cursor.epoch = std::move(epoch);
        cursor.named.emplace_back(std::move(channel), pushwire::protocol::StreamPosition{seq, ""});
        return cursor;
    };

    SECTION("no cursor: start at the head, in the hub's epoch") {
        auto points = hub.resolve({"c", "fresh"}, nullptr);
        REQUIRE(points.ok());
        CHECK(points->at(0).after == 4);
        CHECK(points->at(0).epoch == "e1");
        CHECK(points->at(1).after == 0);
    }
    SECTION("a cursor of this epoch: start at its positions; absent channels at now") {
        Cursor cursor = named("e1", "c", 2);
        auto points = hub.resolve({"c", "d"}, &cursor);
        REQUIRE(points.ok());
        CHECK(points->at(0).after == 2);
        CHECK_FALSE(points->at(0).epochGap);
        CHECK(points->at(1).after == 0);
    }
    SECTION("a cursor ahead of the channel is clamped to the head") {
        Cursor cursor;
        cursor.all = 99;
        CHECK(hub.resolve({"c"}, &cursor)->at(0).after == 4);
    }
    SECTION("a cursor from another epoch starts at 0 with an unknown-range gap naming the new epoch") {
        Cursor cursor = named("0ld", "c", 10);
        auto points = hub.resolve({"c"}, &cursor);
        REQUIRE(points.ok());
        CHECK(points->at(0).after == 0);
        REQUIRE(points->at(0).epochGap);
        CHECK(points->at(0).epochGap->from == 11);
        CHECK_FALSE(points->at(0).epochGap->to);
        CHECK(points->at(0).epochGap->reason == GapReason::EpochChanged);
        CHECK(points->at(0).epochGap->epoch == "e1");
    }
    SECTION("the largest seq in an old cursor does not wrap the gap around to 0") {
        Cursor cursor = named("0ld", "c", UINT64_MAX);
        auto points = hub.resolve({"c"}, &cursor);
        REQUIRE(points->at(0).epochGap);
        CHECK(points->at(0).epochGap->from == UINT64_MAX);
    }
    SECTION("a positional cursor must have one entry per channel") {
        Cursor cursor;
        cursor.byIndex = {{1, ""}, {2, ""}};
        CHECK_FALSE(hub.resolve({"c"}, &cursor).ok());
        CHECK(hub.resolve({"c", "d"}, &cursor)->at(0).after == 1);
    }
}

TEST_CASE("a read is capped by bytes as well as by count, and says when there is more") {
    Hub hub = makeHub(100);
    for (int i = 0; i < 10; ++i) hub.publish("c", "\"" + std::string(1000, 'x') + "\"");
    Backlog first = hub.readAfter("c", 0, 100, 3500);
    CHECK(first.messages.size() == 3);
    CHECK(first.more);
    Backlog one = hub.readAfter("c", 0, 100, 10);  // at least one, however large
    CHECK(one.messages.size() == 1);
    Backlog rest = hub.readAfter("c", 3, 100);
    CHECK(rest.messages.size() == 7);
    CHECK_FALSE(rest.more);
}

TEST_CASE("a subscriber may unsubscribe itself and others during fan-out") {
    Hub hub = makeHub();
    Recorder a, b, c;
    a.onDeliver = [&](const MessagePtr&) {
        hub.unsubscribe("x", &a);
        hub.unsubscribe("x", &b);
    };
    hub.subscribe("x", &a);
    hub.subscribe("x", &b);
    hub.subscribe("x", &c);
    hub.publish("x", "1");
    hub.publish("x", "2");
    CHECK(a.got.size() == 1);
    CHECK(b.got.empty());
    CHECK(c.got.size() == 2);
}

TEST_CASE("many channels stay independent") {
    Hub hub = makeHub(10);
    for (int round = 0; round < 20; ++round) {
        for (int ch = 0; ch < 500; ++ch) hub.publish("ch" + std::to_string(ch), "0");
    }
    CHECK(hub.channelCount() == 500);
    CHECK(hub.publishedCount() == 10000);
    for (int ch = 0; ch < 500; ch += 97) {
        std::string name = "ch" + std::to_string(ch);
        CHECK(hub.head(name) == 20);
        Backlog backlog = hub.readAfter(name, 0, 100);
        REQUIRE(backlog.gap);
        CHECK(backlog.gap->to == 10u);
        CHECK(backlog.messages.size() == 10);
    }
}
