// The hub over a broker: fan-out to this process's listeners, following the channels that
// have listeners, and reads answered from what it saw go by. A scripted broker plays the
// asynchronous side; the memory broker the synchronous one.
#include "hub/hub.hpp"

#include <catch2/catch.hpp>

#include "broker/memory_broker.hpp"

namespace hub_test {

using namespace pushwire::server;
using pushwire::protocol::Result;

namespace {

struct Recorder final : Hub::Listener {
    std::vector<MessagePtr> got;
    std::vector<StreamHead> follows;
    std::function<void(const MessagePtr&)> onDeliver;
    void onFollow(const std::string&, const StreamHead& head) override { follows.push_back(head); }
    void onMessage(const MessagePtr& message) override {
        got.push_back(message);
        if (onDeliver) onDeliver(message);
    }
};

// A broker that answers only when the test says so.
struct ScriptedBroker final : Broker {
    BrokerEventHandler* handler = nullptr;
    std::vector<std::string> follows, unfollows;
    std::vector<HistoryQuery> reads;
    std::vector<HistoryDone> readAnswers;
    void setHandler(BrokerEventHandler* h) override { handler = h; }
    void start() override {}
    void stop() override {}
    std::vector<PublishDone> publishAnswers;
    void publish(const std::string&, std::string, std::int64_t, PublishDone done) override {
        publishAnswers.push_back(std::move(done));
    }
    void history(const HistoryQuery& query, HistoryDone done) override {
        reads.push_back(query);
        readAnswers.push_back(std::move(done));
    }
    void follow(const std::string& channel) override { follows.push_back(channel); }
    void unfollow(const std::string& channel) override { unfollows.push_back(channel); }
    bool available() const override { return true; }
    std::string describe() const override { return "scripted"; }
    std::string state() const override { return "ok"; }
    bool historyIsLocal() const override { return false; }

    MessagePtr message(const std::string& channel, std::uint64_t seq, const std::string& epoch = "e1") {
        auto m = std::make_shared<Message>();
        m->channel = channel;
        m->seq = seq;
        m->epoch = epoch;
        m->envelope = "{\"seq\":" + std::to_string(seq) + "}";
        return m;
    }
};

MessagePtr publishNow(Hub& hub, const std::string& channel, const std::string& data) {
    MessagePtr out;
    hub.publish(channel, data, [&](Result<MessagePtr> r) { out = r ? r.value() : nullptr; });
    return out;
}

// A read of `channel` after `after` (in the life `epoch`, "" for any): the page when the hub
// answered at once, from its window; nullopt when it did not (it asked the broker).
std::optional<HistoryPage> readNow(Hub& hub, const std::string& channel, std::uint64_t after,
                                   const std::string& epoch = "") {
    std::optional<HistoryPage> page;
    hub.read({channel, after, epoch, 100, SIZE_MAX}, [&](Result<HistoryPage> r) { page = std::move(r.value()); });
    return page;
}

}  // namespace

TEST_CASE("a publish reaches every listener of its channel once, in order, and no other") {
    MemoryBroker broker({100, "e1"});
    Hub hub(broker, {0, "e1", [] { return std::int64_t{7}; }});
    Recorder a, b, other;
    hub.join("c", &a);
    hub.join("c", &b);
    hub.join("d", &other);
    REQUIRE(hub.head("c"));
    CHECK(hub.head("c")->epoch == "e1");
    for (int i = 0; i < 3; ++i) publishNow(hub, "c", std::to_string(i));
    for (Recorder* r : {&a, &b}) {
        REQUIRE(r->got.size() == 3);
        CHECK(r->got[0]->seq == 1);
        CHECK(r->got[2]->seq == 3);
        CHECK(r->got[2]->envelope == R"({"channel":"c","seq":3,"data":2,"time":7})");
    }
    CHECK(other.got.empty());
    CHECK(hub.head("c")->seq == 3);
    CHECK(hub.publishedCount() == 3);
}

TEST_CASE("an invalid channel name is refused before the broker hears of it") {
    MemoryBroker broker({100, "e1"});
    Hub hub(broker, {0, "e1", nullptr});
    std::optional<Result<MessagePtr>> result;
    hub.publish("no spaces", "1", [&](Result<MessagePtr> r) { result = std::move(r); });
    REQUIRE(result);
    REQUIRE_FALSE(result->ok());
    CHECK(result->error().code == pushwire::protocol::ErrorCode::BadChannel);
    CHECK(broker.channelCount() == 0);
}

TEST_CASE("a listener may leave itself and others during a fan-out") {
    MemoryBroker broker({100, "e1"});
    Hub hub(broker, {0, "e1", nullptr});
    Recorder a, b, c;
    a.onDeliver = [&](const MessagePtr&) {
        hub.leave("x", &a);
        hub.leave("x", &b);
    };
    hub.join("x", &a);
    hub.join("x", &b);
    hub.join("x", &c);
    publishNow(hub, "x", "1");
    publishNow(hub, "x", "2");
    CHECK(a.got.size() == 1);
    CHECK(b.got.empty());
    CHECK(c.got.size() == 2);
}

TEST_CASE("the hub follows a channel from its first listener to its last, and tells later listeners nothing twice") {
    ScriptedBroker broker;
    Hub hub(broker, {16, "node", nullptr});
    Recorder a, b;
    hub.join("c", &a);
    hub.join("c", &b);
    CHECK(broker.follows == std::vector<std::string>{"c"});
    CHECK_FALSE(hub.head("c"));  // not until the broker says where the stream stands
    broker.handler->onFollow("c", {"e1", 4});
    REQUIRE(hub.head("c"));
    CHECK(a.follows.size() == 1);  // an answer that came later is a notification
    CHECK(b.follows.size() == 1);
    broker.handler->onPublication(broker.message("c", 5));
    broker.handler->onPublication(broker.message("c", 5));  // again: ignored
    broker.handler->onPublication(broker.message("c", 3));  // old: ignored
    CHECK(a.got.size() == 1);
    hub.leave("c", &a);
    CHECK(broker.unfollows.empty());
    hub.leave("c", &b);
    CHECK(broker.unfollows == std::vector<std::string>{"c"});
    CHECK_FALSE(hub.head("c"));
}

TEST_CASE("reads covered by what the hub saw go by are answered at once, others ask the broker") {
    ScriptedBroker broker;
    Hub hub(broker, {3, "node", nullptr});
    Recorder listener;
    hub.join("c", &listener);
    broker.handler->onFollow("c", {"e1", 10});
    for (std::uint64_t seq = 11; seq <= 15; ++seq) broker.handler->onPublication(broker.message("c", seq));
    auto readAt = [&](std::uint64_t after, const std::string& epoch = "") { return readNow(hub, "c", after, epoch); };
    auto local = readAt(12);  // the window holds 13..15
    REQUIRE(local);
    REQUIRE(local->messages.size() == 3);
    CHECK(local->messages[0]->seq == 13);
    CHECK(local->head.seq == 15);
    CHECK(broker.reads.empty());
    CHECK(readAt(15)->messages.empty());
    CHECK_FALSE(readAt(11));  // older than the window: the broker's
    CHECK_FALSE(readAt(14, "other-life"));
    CHECK(broker.reads.size() == 2);
    SECTION("a new life of the stream empties the window") {
        broker.handler->onFollow("c", {"e2", 0});
        CHECK(listener.follows.back().epoch == "e2");
        CHECK(readAt(0)->messages.empty());
    }
}

TEST_CASE("a channel left by its last listener stays followed for the linger, then is let go") {
    ScriptedBroker broker;
    std::int64_t now = 1000;
    Hub hub(broker, {16, "node", [&] { return now; }, 10000});
    Recorder a, b;
    hub.join("c", &a);
    broker.handler->onFollow("c", {"e1", 0});
    hub.leave("c", &a);
    CHECK(broker.unfollows.empty());
    now += 5000;
    hub.sweep();
    CHECK(broker.unfollows.empty());
    hub.join("c", &b);  // the next poller: no follow again, and the head is at hand
    CHECK(broker.follows.size() == 1);
    CHECK(hub.head("c"));
    hub.leave("c", &b);
    now += 10001;
    hub.sweep();
    CHECK(broker.unfollows == std::vector<std::string>{"c"});
}

// Redis answers a publish before its subscription delivers it: until the window holds the
// answered message, reads go to the broker and the head counts it; a new life the channel
// moves to forgets an answer of the old one that never came back.
TEST_CASE("a publish answered before its delivery is read from the broker until the window holds it") {
    ScriptedBroker broker;
    Hub hub(broker, {16, "node", nullptr});
    Recorder a;
    hub.join("c", &a);
    broker.handler->onFollow("c", {"e1", 1});
    broker.handler->onPublication(broker.message("c", 2));
    auto readAt = [&](std::uint64_t after) {
        const std::size_t before = broker.reads.size();
        return readNow(hub, "c", after, "e1") ? "window" : broker.reads.size() > before ? "broker" : "none";
    };
    CHECK(std::string(readAt(1)) == "window");
    hub.publish("c", "3", [](Result<MessagePtr>) {});
    REQUIRE(broker.publishAnswers.size() == 1);
    broker.publishAnswers[0](broker.message("c", 3));  // answered; not delivered yet
    CHECK(hub.head("c")->seq == 3);
    CHECK(std::string(readAt(2)) == "broker");
    broker.handler->onPublication(broker.message("c", 3));
    CHECK(std::string(readAt(2)) == "window");

    hub.publish("c", "4", [](Result<MessagePtr>) {});
    broker.publishAnswers[1](broker.message("c", 4));  // never delivered: the life ends
    CHECK(std::string(readAt(3)) == "broker");
    broker.handler->onFollow("c", {"e2", 0});
    CHECK(hub.head("c")->epoch == "e2");
    CHECK(hub.head("c")->seq == 0);
    CHECK(readNow(hub, "c", 0, "e2"));  // from the window again
}

}  // namespace hub_test
