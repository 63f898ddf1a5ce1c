// Publishers racing each other and the deliveries on one channel, with the memory broker
// and with Redis (whose publishes answer later, out of the loop's turn): 16 publishers (8 over
// HTTP, one request at a time; 8 over WebSocket, frames sent without waiting for their
// acks) × 1000 messages, read at the same time on all four transports. Every reader gets
// every message once, in seq order, with the data its publisher sent for that seq, and
// each publisher's messages keep the order it sent them in.
#include <catch2/catch.hpp>
#include <future>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "server_process.hpp"
#include "support/redis_server.hpp"

using namespace pushwire::test;
using nlohmann::json;

namespace concurrency_test {

namespace {

constexpr int kPublishers = 16;
constexpr int kEach = 1000;
constexpr std::size_t kTotal = kPublishers * kEach;

// What one reader got: (seq, data) in the order received.
using Got = std::vector<std::pair<std::uint64_t, std::string>>;

// A poll or long-poll reader from the channel's start until it has `kTotal` messages.
Got pollAll(const ServerProcess& server, const std::string& endpoint) {
    Got got;
    auto c = server.client();
    std::string since = "0";
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    while (got.size() < kTotal && std::chrono::steady_clock::now() < deadline) {
        auto res = c.Get((endpoint + "?channel=race&timeout_ms=5000&since=" + since).c_str());
        if (!res || res->status != 200) break;
        json answer = json::parse(res->body);
        for (const auto& m : answer["messages"]) got.emplace_back(m["seq"].get<std::uint64_t>(), m["data"].dump());
        since = answer["cursor"].get<std::string>();
        if (endpoint == "/pushwire/poll" && answer["messages"].empty()) std::this_thread::sleep_for(20ms);
    }
    return got;
}

// The race on `server` (its history holds all of it: a reader that falls behind replays
// instead of getting a gap).
void race(const ServerProcess& server) {
    // Readers from the channel's start (since=0), on every transport, each reading on its
    // own thread while the publishers publish.
    SseClient sse(server.httpPort(), "/pushwire/sse?channel=race&since=0");
    REQUIRE(sse.waitFor(1, "welcome").size() == 1);
    RawWebSocket ws(server.httpPort(), "/pushwire/ws?channel=race&since=0");
    REQUIRE(ws.upgraded());
    auto sseReader = std::async(std::launch::async, [&] {
        Got got;
        for (const SseEvent& event : sse.waitFor(kTotal, "", 120s)) {
            json envelope = json::parse(event.data);
            got.emplace_back(envelope["seq"].get<std::uint64_t>(), envelope["data"].dump());
        }
        return got;
    });
    auto wsReader = std::async(std::launch::async, [&] {
        std::size_t scanned = 0, messages = 0;
        const auto& frames = ws.waitFor(
            [&](const auto& all) {
                for (; scanned < all.size(); ++scanned) {
                    messages += all[scanned].payload.compare(0, 17, R"({"type":"message")") == 0 ? 1 : 0;
                }
                return messages >= kTotal;
            },
            120s);
        Got got;
        for (const auto& frame : frames) {
            if (frame.payload.compare(0, 17, R"({"type":"message")") != 0) continue;
            json message = json::parse(frame.payload);
            got.emplace_back(message["seq"].get<std::uint64_t>(), message["data"].dump());
        }
        return got;
    });
    auto longPoll = std::async(std::launch::async, [&] { return pollAll(server, "/pushwire/longpoll"); });
    auto poll = std::async(std::launch::async, [&] { return pollAll(server, "/pushwire/poll"); });

    std::mutex mutex;
    std::map<std::uint64_t, std::string> sentAt;  // seq -> data, as each publisher was told
    std::vector<std::thread> publishers;
    for (int p = 0; p < kPublishers; ++p) {
        publishers.emplace_back([&, p] {
            auto data = [p](int i) { return json{{"p", p}, {"i", i}}.dump(); };
            std::map<std::uint64_t, std::string> mine;
            if (p % 2 == 0) {
                auto c = server.client();
                c.set_keep_alive(true);
                c.set_tcp_nodelay(true);
                for (int i = 0; i < kEach; ++i) {
                    auto res =
                        c.Post("/pushwire/publish", R"({"channel":"race","data":)" + data(i) + "}", "application/json");
                    if (!res || res->status != 200) break;
                    mine[json::parse(res->body)["seq"].get<std::uint64_t>()] = data(i);
                }
            } else {
                RawWebSocket publisher(server.httpPort(), "/pushwire/ws");
                for (int i = 0; i < kEach; ++i) {
                    publisher.sendText(R"({"type":"publish","channel":"race","id":)" + std::to_string(i) +
                                       R"(,"data":)" + data(i) + "}");
                }
                const auto& frames = publisher.waitFor([](const auto& all) { return all.size() >= kEach + 1; },
                                                       60s);  // welcome + an ack each
                for (const auto& frame : frames) {
                    json ack = json::parse(frame.payload, nullptr, false);
                    if (!ack.is_object() || ack["type"] != "ack") continue;
                    mine[ack["seq"].get<std::uint64_t>()] = data(ack["id"].get<int>());
                }
            }
            std::lock_guard<std::mutex> lock(mutex);
            sentAt.insert(mine.begin(), mine.end());
        });
    }
    for (auto& t : publishers) t.join();
    REQUIRE(sentAt.size() == kTotal);  // every publish got its own seq
    REQUIRE(sentAt.begin()->first == 1);
    REQUIRE(sentAt.rbegin()->first == kTotal);
    // Each publisher's messages were given seqs in the order it sent them.
    std::map<int, int> lastOf;
    bool inOrder = true;
    for (const auto& [seq, data] : sentAt) {
        json d = json::parse(data);
        const int p = d["p"], i = d["i"];
        if (lastOf.count(p) && lastOf[p] >= i) inOrder = false;
        lastOf[p] = i;
    }
    CHECK(inOrder);

    Got expected(sentAt.begin(), sentAt.end());
    auto check = [&](const std::string& transport, const Got& got) {
        INFO(transport << ": " << got.size() << " messages");
        CHECK(got.size() == kTotal);
        CHECK(got == expected);
    };
    check("sse", sseReader.get());
    check("websocket", wsReader.get());
    check("longpoll", longPoll.get());
    check("poll", poll.get());
}

}  // namespace

TEST_CASE(
    "16 publishers × 1000 messages racing on one channel: every reader on every transport gets each once, "
    "in seq order") {
    ServerProcess server({"--history", "20000"});
    race(server);
}

TEST_CASE(
    "16 publishers × 1000 messages racing on one channel through Redis: every reader gets each once, in seq "
    "order",
    "[broker]") {
    RedisServer redis;
    ServerProcess server({"--history", "20000", "--broker", redis.url()});
    for (int i = 0; i < 300; ++i) {
        auto health = server.client().Get("/pushwire/healthz");
        if (health && health->status == 200) break;
        std::this_thread::sleep_for(20ms);
    }
    race(server);
}

}  // namespace concurrency_test
