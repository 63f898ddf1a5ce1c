// A client any distance behind catches up on everything the server holds, on every
// transport, at its own pace; one that stops reading is let go; a position over many
// channels fits in any header; data nested too deep is refused on every publish path.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <set>

#include "server_process.hpp"
#include "support/bystander.hpp"

using namespace pushwire::test;
using nlohmann::json;

namespace catch_up_test {

namespace {

constexpr int kFat = 100;
const std::string kFatData = "\"" + std::string(60000, 'f') + "\"";

void publishFat(ServerProcess& server) {
    for (int i = 0; i < kFat; ++i) publish(server, "fat", kFatData);
}

// Polls from `since` until the answer says there is no more; returns the seqs received.
std::vector<std::uint64_t> pollAll(ServerProcess& server, const std::string& endpoint) {
    auto client = server.client();
    std::vector<std::uint64_t> seqs;
    std::string since = "0";
    for (int round = 0; round < 200; ++round) {
        auto res = client.Get((endpoint + "?channel=fat&timeout_ms=0&since=" + since).c_str());
        REQUIRE(res);
        REQUIRE(res->status == 200);
        CHECK(res->body.size() < 1100 * 1024);  // answers are capped by bytes
        json answer = json::parse(res->body);
        for (const auto& m : answer["messages"]) seqs.push_back(m["seq"].get<std::uint64_t>());
        since = answer["cursor"].get<std::string>();
        if (!answer["more"].get<bool>()) break;
    }
    return seqs;
}

std::vector<std::uint64_t> oneToN(int n) {
    std::vector<std::uint64_t> out;
    for (int i = 1; i <= n; ++i) out.push_back(static_cast<std::uint64_t>(i));
    return out;
}

}  // namespace

TEST_CASE("a poller 6 MB behind catches up on everything, in answers capped by bytes") {
    ServerProcess server({"--max-message-bytes", "70000"});
    Bystander bystander(server);
    publishFat(server);
    CHECK(pollAll(server, "/pushwire/poll") == oneToN(kFat));
    CHECK(pollAll(server, "/pushwire/longpoll") == oneToN(kFat));
    bystander.stillWorks();
}

TEST_CASE("a slow SSE reader 6 MB behind receives every message, paced by its reading") {
    ServerProcess server({"--max-message-bytes", "70000"});
    Bystander bystander(server);
    publishFat(server);
    RawSocket slow(server.httpPort(), 8192);
    slow.send("GET /pushwire/sse?channel=fat&since=0 HTTP/1.1\r\nHost: x\r\n\r\n");
    // Small reads with pauses; each event's envelope is parsed, so a loss, a repeat or a
    // message out of order shows in the seqs.
    std::vector<std::uint64_t> seqs;
    auto deadline = std::chrono::steady_clock::now() + 60s;
    std::string pending;
    while (seqs.size() < static_cast<std::size_t>(kFat) && std::chrono::steady_clock::now() < deadline) {
        std::string chunk = slow.readSome(16384, 1000ms);
        if (chunk.empty()) continue;
        pending += chunk;
        for (std::size_t end = pending.find("\n\n"); end != std::string::npos; end = pending.find("\n\n")) {
            const std::string event = pending.substr(0, end);
            pending.erase(0, end + 2);
            const std::size_t data = event.find("\ndata: ");
            if (data == std::string::npos || event.find("event: ") != std::string::npos) continue;  // welcome, pings
            json envelope = json::parse(event.substr(data + 7));
            CHECK(envelope["data"].get<std::string>().size() == 60000);
            seqs.push_back(envelope["seq"].get<std::uint64_t>());
        }
        std::this_thread::sleep_for(1ms);
    }
    CHECK(seqs == oneToN(kFat));
    CHECK(server.metric("pushwire_slow_disconnects_total") == 0);
    bystander.stillWorks();
}

TEST_CASE("a slow WebSocket reader 6 MB behind receives every message once, in order") {
    ServerProcess server({"--max-message-bytes", "70000"});
    Bystander bystander(server);
    publishFat(server);
    RawWebSocket slow(server.httpPort(), "/pushwire/ws?channel=fat&since=0", 8192);
    REQUIRE(slow.upgraded());
    std::vector<std::uint64_t> seqs;
    auto frames = slow.waitFor([](const auto& all) { return all.size() >= kFat + 2; }, 60s);
    for (const auto& frame : frames) {
        if (frame.opcode != 1) continue;
        json parsed = json::parse(frame.payload);
        if (parsed["type"] == "message") seqs.push_back(parsed["seq"].get<std::uint64_t>());
    }
    CHECK(seqs == oneToN(kFat));
    bystander.stillWorks();
}

TEST_CASE("a reader that stops reading is let go after --send-timeout-ms, not buffered without end") {
    ServerProcess server({"--max-message-bytes", "70000", "--send-timeout-ms", "1000"});
    Bystander bystander(server);
    RawSocket stuck(server.httpPort(), 4096);
    stuck.send("GET /pushwire/sse?channel=flood HTTP/1.1\r\nHost: x\r\n\r\n");  // and never reads
    stuck.readUntil([](const std::string& b) { return b.find("welcome") != std::string::npos; });
    const std::string big = "\"" + std::string(60000, 'x') + "\"";
    for (int i = 0; i < 300; ++i) publish(server, "flood", big);  // 18 MB: far past any socket buffer
    CHECK(server.waitMetric("pushwire_slow_disconnects_total", [](double n) { return n >= 1; }) == 1);
    CHECK(server.metric("pushwire_connections{transport=\"sse\"}") == 1);  // the bystander
    bystander.stillWorks();
}

TEST_CASE("the SSE position of 240 long channel names fits a header, and Last-Event-ID resumes exactly after it") {
    ServerProcess server;
    std::string channels;
    std::vector<std::string> names;
    for (int i = 0; i < 240; ++i) {
        names.push_back("room:" + std::string(24, 'a' + i % 26) + ":" + std::to_string(1000 + i));
        channels += (i ? "," : "") + names.back();
    }
    SseClient first(server.httpPort(), "/pushwire/sse?channels=" + channels);
    first.waitFor(1, "welcome");
    for (int i = 0; i < 240; i += 7) publish(server, names[static_cast<std::size_t>(i)], std::to_string(i));
    auto events = first.waitFor(35);
    REQUIRE(events.size() == 35);
    const std::string id = events[19].id;
    CHECK(id.size() < 2048);  // 240 names would make it 8.6 KB
    for (int i = 0; i < 240; i += 7) publish(server, names[static_cast<std::size_t>(i)], std::to_string(1000 + i));
    SseClient resumed(server.httpPort(), "/pushwire/sse?channels=" + channels, "Last-Event-ID: " + id + "\r\n");
    CHECK(resumed.status() == 200);
    resumed.waitFor(15 + 35);
    // One more message behind the replay: anything the resume would repeat comes before it.
    publish(server, names[0], "\"last\"");
    auto again = resumed.waitFor(15 + 35 + 1);
    REQUIRE_FALSE(again.empty());
    CHECK(json::parse(again.back().data)["data"] == "last");
    again.pop_back();
    // Exactly what followed the position: the first round after the 20th message, and the
    // second round whole (each channel in order; channels interleave as they replay).
    std::set<std::pair<std::string, int>> expected;
    for (int i = 0; i < 240; i += 7) {
        if (i > 133) expected.emplace(names[static_cast<std::size_t>(i)], 1);
        expected.emplace(names[static_cast<std::size_t>(i)], 2);
    }
    std::set<std::pair<std::string, int>> got;
    for (const SseEvent& event : again) {
        json envelope = json::parse(event.data);
        got.emplace(envelope["channel"].get<std::string>(), envelope["seq"].get<int>());
    }
    CHECK(again.size() == 50);
    CHECK(got == expected);
}

TEST_CASE("data nested deeper than 64 levels is refused with too_deep on every publish path") {
    ServerProcess server({"--max-message-bytes", "4194304"});
    Bystander bystander(server);
    auto nested = [](std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); };
    auto c = server.client();
    auto body = [&](std::size_t depth) { return R"({"channel":"deep","data":)" + nested(depth) + "}"; };
    auto deep = c.Post("/pushwire/publish", body(100000), "application/json");
    REQUIRE(deep);
    CHECK(deep->status == 400);
    CHECK(deep->body.find("\"too_deep\"") != std::string::npos);
    auto limit = c.Post("/pushwire/publish", body(64), "application/json");
    REQUIRE(limit);
    CHECK(limit->status == 200);
    auto over = c.Post("/pushwire/publish", body(65), "application/json");
    REQUIRE(over);
    CHECK(over->status == 400);
    RawWebSocket ws(server.httpPort(), "/pushwire/ws");
    REQUIRE(ws.upgraded());
    ws.sendText(R"({"type":"publish","channel":"deep","id":1,"data":)" + nested(5000) + "}");
    auto frames = ws.waitFor([](const auto& all) { return all.size() >= 2; });
    REQUIRE(frames.size() >= 2);
    CHECK(frames[1].payload.find("\"too_deep\"") != std::string::npos);
    CHECK(frames[1].payload.find("\"id\":1") != std::string::npos);
    bystander.stillWorks();
}

// How fast such a body is read is the benchmark's to measure (pushwire-bench --scenario
// big-publish); here: it is read whole, stored whole, and nobody else waits for it.
TEST_CASE("a publish of hundreds of thousands of keys is stored whole, and the others are served meanwhile") {
    ServerProcess server({"--max-message-bytes", "4194304"});
    Bystander bystander(server);
    std::string data = "{";
    for (int i = 0; i < 300000; ++i) data += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":1";
    data += "}";
    auto c = server.client();
    auto res = c.Post("/pushwire/publish", R"({"channel":"keys","data":)" + data + "}", "application/json");
    REQUIRE(res);  // with a quadratic parser this one request held the loop for minutes
    CHECK(res->status == 200);
    bystander.stillWorks();
    auto stored = c.Get("/pushwire/poll?channel=keys&since=0");
    REQUIRE(stored);
    REQUIRE(stored->status == 200);
    CHECK(stored->body.find(R"("data":)" + data + ",") != std::string::npos);  // byte for byte
}

}  // namespace catch_up_test
