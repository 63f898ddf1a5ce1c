// The presence seam's contract (server-native/src/broker/presence.hpp), one suite for
// every store: what must hold whichever broker a server runs on.
#include <asio.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>

#include "../../support/redis_server.hpp"
#include "broker/memory_broker.hpp"
#include "broker/memory_presence.hpp"
#include "broker/redis_presence.hpp"

namespace presence_contract_test {

using namespace pushwire::server;
using namespace std::chrono_literals;
using pushwire::protocol::EntryEvent;
using pushwire::protocol::Result;

namespace {

struct Recorder final : BrokerEventHandler {
    std::vector<MessagePtr> publications;
    int follows = 0;
    void onFollow(const std::string&, const StreamHead&) override { ++follows; }
    void onPublication(const MessagePtr& message) override { publications.push_back(message); }
    void onAvailability(bool, const std::string&) override {}
};

// One node: a broker and its presence store on their own loop (Redis: on `redis`, with
// heartbeats every ttl/3 and the reaper).
class PresenceNode {
public:
    explicit PresenceNode(pushwire::test::RedisServer* redis = nullptr, std::chrono::milliseconds ttl = 30s) {
        if (redis) {
            BrokerOptions options;
            options.kind = BrokerOptions::Kind::Redis;
            options.port = redis->port();
            auto broker = std::make_unique<RedisBroker>(io_, options, 1000);
            RedisPresence::Options presence;
            presence.ttl = ttl;
            presence.announces = [](const std::string& channel) { return channel.rfind("room", 0) == 0; };
            presence.clock = [] { return std::int64_t{5000}; };
            auto store = std::make_unique<RedisPresence>(io_, *broker, presence);
            redisPresence_ = store.get();
            presence_ = std::move(store);
            broker_ = std::move(broker);
        } else {
            auto memory = std::make_unique<MemoryBroker>(MemoryBroker::Options{1000, ""});
            presence_ = std::make_unique<MemoryPresence>(*memory, [] { return std::int64_t{5000}; });
            broker_ = std::move(memory);
        }
        broker_->setHandler(&recorder_);
        broker_->start();
        if (redisPresence_) redisPresence_->start();
        REQUIRE(runUntil([this] { return broker_->available(); }));
    }
    ~PresenceNode() {
        presence_.reset();
        broker_->stop();
        io_.poll();
    }
    // Dies as in kill -9: no leave, no more heartbeats.
    void die() { redisPresence_->stop(); }
    RedisPresence& redisPresence() { return *redisPresence_; }

    Broker& broker() { return *broker_; }
    Presence& presence() { return *presence_; }
    Recorder& recorder() { return recorder_; }

    bool runUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout = 5s) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!done()) {
            if (std::chrono::steady_clock::now() > deadline) return false;
            io_.restart();
            io_.run_for(5ms);
        }
        return true;
    }

    template <typename T, typename Call>
    T await(Call call) {
        std::optional<Result<T>> result;
        call([&](Result<T> r) { result = std::move(r); });
        REQUIRE(runUntil([&] { return result.has_value(); }));
        REQUIRE(result->ok());
        return std::move(result->value());
    }

    MessagePtr join(const std::string& channel, const Member& member, bool announce = true) {
        return await<MessagePtr>([&](auto done) { presence_->join(channel, member, announce, done); });
    }
    MessagePtr leave(const std::string& channel, const std::string& client, bool announce = true) {
        return await<MessagePtr>([&](auto done) { presence_->leave(channel, client, announce, done); });
    }
    PresenceSnapshot snapshot(const std::string& channel, std::size_t max = 1000) {
        return await<PresenceSnapshot>([&](auto done) { presence_->snapshot(channel, max, done); });
    }
    PresenceCounts counts(const std::string& channel) {
        return await<PresenceCounts>([&](auto done) { presence_->counts(channel, done); });
    }
    MessagePtr publish(const std::string& channel, const std::string& data) {
        return await<MessagePtr>([&](auto done) { broker_->publish(channel, data, 1000, done); });
    }
    HistoryPage history(const std::string& channel) {
        return await<HistoryPage>([&](auto done) { broker_->history({channel, 0, "", 1000, SIZE_MAX}, done); });
    }

private:
    asio::io_context io_;
    std::unique_ptr<Broker> broker_;
    std::unique_ptr<Presence> presence_;
    RedisPresence* redisPresence_ = nullptr;
    Recorder recorder_;
};

struct MemoryKind {
    static constexpr bool redis = false;
};
struct RedisKind {
    static constexpr bool redis = true;
};

template <typename Kind>
struct Rig {
    std::unique_ptr<pushwire::test::RedisServer> server =
        Kind::redis ? std::make_unique<pushwire::test::RedisServer>() : nullptr;
    std::unique_ptr<PresenceNode> node(std::chrono::milliseconds ttl = 30s) {
        return std::make_unique<PresenceNode>(server.get(), ttl);
    }
};

Member member(const std::string& client, const std::string& user = "", const std::string& info = "null") {
    return Member{client, user, info};
}

std::vector<std::string> clientsOf(const PresenceSnapshot& snapshot) {
    std::vector<std::string> out;
    for (const std::string& m : snapshot.members) out.push_back(nlohmann::json::parse(m)["client"]);
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

TEMPLATE_TEST_CASE(
    "presence: members join and leave, clients and distinct users are counted, a repeated join changes nothing",
    "[presence]", MemoryKind, RedisKind) {
    Rig<TestType> rig;
    auto owned = rig.node();
    PresenceNode& node = *owned;
    node.join("room", member("c1", "alice"), false);
    node.join("room", member("c2", "alice"), false);
    node.join("room", member("c3", "bob"), false);
    node.join("room", member("c4"), false);                            // anonymous: a client, not a user
    CHECK(node.join("room", member("c1", "alice"), true) == nullptr);  // no change: nothing announced
    PresenceCounts counts = node.counts("room");
    CHECK(counts.clients == 4);
    CHECK(counts.users == 2);
    CHECK(clientsOf(node.snapshot("room")) == std::vector<std::string>{"c1", "c2", "c3", "c4"});
    node.leave("room", "c1", false);
    CHECK(node.counts("room").users == 2);  // alice is still here in another tab
    node.leave("room", "c2", false);
    CHECK(node.counts("room").users == 1);
    CHECK(node.leave("room", "nobody", true) == nullptr);  // no member: nothing announced
    CHECK(node.counts("room").clients == 2);
    CHECK(node.counts("elsewhere").clients == 0);
    CHECK(node.snapshot("elsewhere").members.empty());
}

TEMPLATE_TEST_CASE("presence: an announced join or leave is an entry of the channel's stream, seq'd with its messages",
                   "[presence]", MemoryKind, RedisKind) {
    Rig<TestType> rig;
    auto owned = rig.node();
    PresenceNode& node = *owned;
    node.broker().follow("room");
    REQUIRE(node.runUntil([&] { return node.recorder().follows > 0; }));
    node.publish("room", "1");
    MessagePtr join = node.join("room", member("c1", "alice", R"({"name":"Alice"})"));
    REQUIRE(join);
    CHECK(join->seq == 2);
    CHECK(join->event == EntryEvent::Join);
    auto entry = nlohmann::json::parse(join->envelope);
    CHECK(entry["event"] == "join");
    CHECK(entry["member"] == nlohmann::json::parse(R"({"client":"c1","user":"alice","info":{"name":"Alice"}})"));
    CHECK(entry["seq"] == 2);
    CHECK(entry["channel"] == "room");
    CHECK_FALSE(entry.contains("data"));
    node.publish("room", "3");
    MessagePtr leave = node.leave("room", "c1");
    REQUIRE(leave);
    CHECK(leave->seq == 4);
    CHECK(leave->event == EntryEvent::Leave);
    CHECK(nlohmann::json::parse(leave->envelope)["member"]["client"] == "c1");
    // Followers get them in order with the messages; history holds them.
    REQUIRE(node.runUntil([&] { return node.recorder().publications.size() == 4; }));
    std::vector<EntryEvent> events;
    for (const auto& m : node.recorder().publications) events.push_back(m->event);
    CHECK(events ==
          std::vector<EntryEvent>{EntryEvent::Message, EntryEvent::Join, EntryEvent::Message, EntryEvent::Leave});
    HistoryPage page = node.history("room");
    REQUIRE(page.messages.size() == 4);
    CHECK(page.messages[1]->envelope == join->envelope);
    CHECK(page.messages[1]->event == EntryEvent::Join);
    CHECK(page.messages[3]->event == EntryEvent::Leave);
}

TEMPLATE_TEST_CASE("presence: a snapshot's position is the stream's head when it was read", "[presence]", MemoryKind,
                   RedisKind) {
    Rig<TestType> rig;
    auto owned = rig.node();
    PresenceNode& node = *owned;
    node.join("room", member("c1"));
    node.publish("room", "1");
    PresenceSnapshot before = node.snapshot("room");
    CHECK(before.position.seq == 2);
    MessagePtr join = node.join("room", member("c2"));
    CHECK(join->seq > before.position.seq);  // after the snapshot: not in it
    CHECK(join->epoch == before.position.epoch);
    PresenceSnapshot after = node.snapshot("room");
    CHECK(after.position.seq == join->seq);
    CHECK(clientsOf(after) == std::vector<std::string>{"c1", "c2"});
}

TEMPLATE_TEST_CASE("presence: a snapshot lists at most the limit and says so, the counts stay exact", "[presence]",
                   MemoryKind, RedisKind) {
    Rig<TestType> rig;
    auto owned = rig.node();
    PresenceNode& node = *owned;
    for (int i = 0; i < 30; ++i) node.join("big", member("c" + std::to_string(i), "u" + std::to_string(i % 7)), false);
    PresenceSnapshot snapshot = node.snapshot("big", 10);
    CHECK(snapshot.members.size() == 10);
    CHECK(snapshot.truncated);
    CHECK(snapshot.counts.clients == 30);
    CHECK(snapshot.counts.users == 7);
    PresenceSnapshot all = node.snapshot("big", 30);
    CHECK(all.members.size() == 30);
    CHECK_FALSE(all.truncated);
}

TEST_CASE("presence on Redis: a node that stops refreshing is seen leaving by the others, with its leave entries",
          "[presence]") {
    pushwire::test::RedisServer redis;
    PresenceNode survivor(&redis, 1500ms);
    {
        PresenceNode doomed(&redis, 1500ms);
        doomed.join("room:x", member("c1", "alice"));
        doomed.join("quiet", member("c2", "bob"), false);
        survivor.join("room:x", member("c3", "carol"));
        survivor.broker().follow("room:x");
        REQUIRE(survivor.runUntil([&] { return survivor.recorder().follows > 0; }));
        REQUIRE(survivor.counts("room:x").clients == 2);
        doomed.die();  // as kill -9: its members stay in Redis, nobody says they left
    }
    // Within the TTL (plus a heartbeat interval), the survivor's reaper removes them and
    // appends the leave where the channel announces.
    auto leftC1 = [&] {
        for (const auto& m : survivor.recorder().publications) {
            if (m->event == EntryEvent::Leave && nlohmann::json::parse(m->envelope)["member"]["client"] == "c1")
                return true;
        }
        return false;
    };
    REQUIRE(survivor.runUntil(leftC1, 20s));
    REQUIRE(survivor.runUntil([&] { return survivor.counts("quiet").clients == 0; }, 20s));
    PresenceCounts room = survivor.counts("room:x");
    CHECK(room.clients == 1);  // carol's node is alive
    CHECK(room.users == 1);
    CHECK(survivor.counts("quiet").users == 0);
    CHECK(survivor.redisPresence().nodesReaped() == 1);
    CHECK(survivor.redisPresence().membersReaped() == 2);
    // The leave is in the stream, after the joins, once.
    HistoryPage page = survivor.history("room:x");
    int leaves = 0;
    for (const auto& m : page.messages) leaves += m->event == EntryEvent::Leave ? 1 : 0;
    CHECK(leaves == 1);
    CHECK(page.messages.back()->event == EntryEvent::Leave);
}

}  // namespace presence_contract_test
