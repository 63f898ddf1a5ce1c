// The memory broker's limits: channels, history bytes and the idle TTL keep memory
// bounded, and whatever they drop is reported to readers (a gap, a new epoch), never
// skipped silently.
#include <catch2/catch.hpp>

#include "broker/memory_broker.hpp"

namespace memory_limits_test {

using namespace pushwire::server;
using pushwire::protocol::ErrorCode;
using pushwire::protocol::GapReason;

namespace {

struct Recorder : BrokerEventHandler {
    std::vector<std::string> follows;
    void onFollow(const std::string& channel, const StreamHead&) override { follows.push_back(channel); }
    void onPublication(const MessagePtr&) override {}
    void onAvailability(bool, const std::string&) override {}
};

MessagePtr publish(MemoryBroker& broker, const std::string& channel, std::int64_t timeMs = 1000,
                   std::string data = "1") {
    MessagePtr out;
    broker.publish(channel, std::move(data), timeMs, [&](pushwire::protocol::Result<MessagePtr> result) {
        REQUIRE(result);
        out = *result;
    });
    return out;
}

HistoryPage read(MemoryBroker& broker, const std::string& channel, std::uint64_t after, const std::string& epoch) {
    HistoryPage out;
    broker.history(HistoryQuery{channel, after, epoch, 100, 1 << 20},
                   [&](pushwire::protocol::Result<HistoryPage> page) {
                       REQUIRE(page);
                       out = *page;
                   });
    return out;
}

}  // namespace

TEST_CASE("at --max-channels the channel idle the longest goes, and comes back as a new life") {
    MemoryBroker::Options options;
    options.epoch = "00000000000000aa";
    options.maxChannels = 3;
    MemoryBroker broker(options);
    const std::string firstEpoch = publish(broker, "a", 1000)->epoch;
    publish(broker, "b", 1001);
    publish(broker, "c", 1002);
    publish(broker, "a", 1003);  // a is now the most recent
    publish(broker, "d", 1004);  // evicts b
    CHECK(broker.channelCount() == 3);
    CHECK(broker.limitStats().channelsEvicted == 1);
    CHECK(read(broker, "a", 0, firstEpoch).messages.size() == 2);
    // b comes back in another epoch: a reader at b's old seq 1 is told, not skipped.
    MessagePtr again = publish(broker, "b", 1005);
    CHECK(again->seq == 1);
    CHECK(again->epoch != firstEpoch);
    HistoryPage page = read(broker, "b", 1, firstEpoch);
    CHECK(page.epochChanged);
    CHECK(page.head.epoch == again->epoch);
}

TEST_CASE("followed channels are never evicted, with all followed a publish to a new channel is refused") {
    MemoryBroker::Options options;
    options.maxChannels = 2;
    MemoryBroker broker(options);
    Recorder recorder;
    broker.setHandler(&recorder);
    broker.follow("a");
    broker.follow("b");
    bool refused = false;
    broker.publish("c", "1", 1000, [&](pushwire::protocol::Result<MessagePtr> result) {
        REQUIRE_FALSE(result);
        CHECK(result.error().code == ErrorCode::Overloaded);
        CHECK(result.error().message.find("--max-channels") != std::string::npos);
        refused = true;
    });
    CHECK(refused);
    CHECK(broker.limitStats().channelsRefused == 1);
    CHECK_FALSE(broker.admit("c"));  // nor may a subscriber make one
    CHECK(broker.channelCount() == 2);
    publish(broker, "a");
    broker.unfollow("a");
    publish(broker, "d");  // a is idle now: it goes
    CHECK(broker.channelCount() == 2);
    CHECK(broker.limitStats().channelsEvicted == 1);
}

TEST_CASE("at --max-history-bytes the oldest message of any channel goes first, and its readers get the gap") {
    MemoryBroker::Options options;
    options.maxHistoryBytes = 10 * (MemoryBroker::kMessageOverhead + 80);
    MemoryBroker broker(options);
    const std::string data(40, 'x');
    const std::string epoch = publish(broker, "old", 1000, "\"" + data + "\"")->epoch;
    for (int i = 0; i < 30; ++i) publish(broker, "new" + std::to_string(i % 3), 2000 + i, "\"" + data + "\"");
    CHECK(broker.historyBytes() <= options.maxHistoryBytes);
    CHECK(broker.limitStats().messagesEvicted > 0);
    HistoryPage page = read(broker, "old", 0, epoch);
    REQUIRE(page.gap);
    CHECK(page.gap->from == 1);
    CHECK(page.gap->to == 1);
    CHECK(page.gap->reason == GapReason::HistoryEvicted);
    CHECK(page.messages.empty());
    // The most recent messages are all still held.
    HistoryPage recent = read(broker, "new2", 0, epoch);
    REQUIRE_FALSE(recent.messages.empty());
    CHECK(recent.messages.back()->seq == 10);
}

TEST_CASE("a channel with no follower and no message for --channel-ttl is dropped, a followed one stays") {
    MemoryBroker::Options options;
    options.channelTtlMs = 60000;
    MemoryBroker broker(options);
    publish(broker, "quiet", 1000);
    publish(broker, "busy", 1000);
    broker.follow("watched");
    publish(broker, "busy", 50000);
    broker.sweep(62000);
    CHECK(broker.channelCount() == 2);  // quiet went
    CHECK(broker.limitStats().channelsExpired == 1);
    broker.sweep(200000);
    CHECK(broker.channelCount() == 1);  // busy too; watched stays
}

TEST_CASE("a million publishes to new channels keep the broker within its limits") {
#if defined(__SANITIZE_ADDRESS__)
    // Under ASan a tenth: the same evictions run (from the 1001st channel on), in a tenth
    // of the time; the plain build publishes the million.
    constexpr int kPublishes = 100000;
#else
    constexpr int kPublishes = 1000000;
#endif
    MemoryBroker::Options options;
    options.maxChannels = 1000;
    options.maxHistoryBytes = 1 << 20;
    MemoryBroker broker(options);
    for (int i = 0; i < kPublishes; ++i) publish(broker, "c" + std::to_string(i), 1000 + i);
    CHECK(broker.channelCount() == 1000);
    CHECK(broker.historyBytes() <= options.maxHistoryBytes);
    CHECK(broker.limitStats().channelsEvicted == kPublishes - 1000);
}

}  // namespace memory_limits_test
