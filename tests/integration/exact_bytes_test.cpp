// Every byte leaves once, in order, on both write paths (the suite runs again with
// --io-uring=off): a raw client compares exactly what it receives. Also with the socket's
// send buffer made tiny, so that sends are partial.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "server_process.hpp"

using namespace pushwire::test;

namespace exact_bytes_test {

namespace {

std::size_t count(const std::string& haystack, const std::string& needle) {
    std::size_t n = 0;
    for (std::size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
    return n;
}

std::vector<std::string> texts(const std::vector<RawWebSocket::Frame>& frames) {
    std::vector<std::string> out;
    for (const auto& f : frames) {
        if (f.opcode == 1) out.push_back(f.payload);
    }
    return out;
}

// Reads until nothing more comes for a while: whatever would arrive twice has arrived.
void settle(RawWebSocket& ws) {
    ws.waitFor([](const auto&) { return false; }, 500ms);
}

}  // namespace

TEST_CASE("a WebSocket gets its welcome, subscribed frame and backlog exactly once") {
    ServerProcess server;
    for (int i = 1; i <= 20; ++i) publish(server, "c", std::to_string(i));
    RawWebSocket ws(server.httpPort(), "/pushwire/ws?channel=c&since=0");
    REQUIRE(ws.upgraded());
    ws.waitFor([](const auto& frames) { return frames.size() >= 22; });
    settle(ws);
    auto frames = texts(ws.waitFor([](const auto&) { return true; }));
    REQUIRE(frames.size() == 22);
    CHECK(frames[0].find("\"type\":\"welcome\"") != std::string::npos);
    CHECK(frames[1].find("\"type\":\"subscribed\"") != std::string::npos);
    for (int i = 1; i <= 20; ++i) {
        auto frame = nlohmann::json::parse(frames[static_cast<std::size_t>(i + 1)]);
        CHECK(frame["seq"] == i);
        CHECK(frame["data"] == i);
    }
    // The bytes themselves: one 101 head, then exactly the frames parsed above.
    CHECK(count(ws.rawBytes(), "welcome") == 1);
    CHECK(count(ws.rawBytes(), "subscribed") == 1);
}

TEST_CASE("pipelined requests, the last one an event stream, are answered once each") {
    ServerProcess server;
    publish(server, "p", "1");
    RawSocket raw(server.httpPort());
    raw.send(
        "GET /pushwire/healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /pushwire/healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /pushwire/sse?channel=p&since=0 HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string got = raw.readUntil([](const std::string& b) { return b.find("\"seq\":1") != std::string::npos; });
    raw.readUntil([](const std::string&) { return false; }, 500ms);
    got = raw.received();
    CHECK(count(got, "HTTP/1.1 200 OK") == 3);
    CHECK(count(got, "\"status\":\"ok\"") == 2);
    CHECK(count(got, "text/event-stream") == 1);
    CHECK(count(got, "event: welcome") == 1);
    CHECK(count(got, "\"seq\":1") == 1);
}

TEST_CASE("with a tiny socket send buffer every send is partial, and every byte still arrives once, in order") {
    ServerProcess server({"--socket-send-buffer", "4096", "--max-message-bytes", "70000"});
    const int messages = 60;
    for (int i = 1; i <= messages; ++i) {
        publish(server, "big",
                "{\"i\":" + std::to_string(i) + ",\"pad\":\"" + std::string(20000 + i, 'a' + i % 26) + "\"}");
    }
    SECTION("over WebSocket") {
        RawWebSocket ws(server.httpPort(), "/pushwire/ws?channel=big&since=0", 4096);
        REQUIRE(ws.upgraded());
        // A slow reader: small reads with pauses, so the server's sends keep meeting a full socket.
        for (int i = 0; i < 40; ++i) {
            ws.socket().readSome(2048, 50ms);
            std::this_thread::sleep_for(5ms);
        }
        ws.waitFor([](const auto& frames) { return frames.size() >= messages + 2; }, 30s);
        settle(ws);
        auto frames = texts(ws.waitFor([](const auto&) { return true; }));
        REQUIRE(frames.size() == messages + 2);
        for (int i = 1; i <= messages; ++i) {
            auto frame = nlohmann::json::parse(frames[static_cast<std::size_t>(i + 1)]);
            CHECK(frame["seq"] == i);
            CHECK(frame["data"]["pad"].get<std::string>() == std::string(20000 + i, 'a' + i % 26));
        }
    }
    SECTION("over SSE") {
        SseClient sse(server.httpPort(), "/pushwire/sse?channel=big&since=0");
        auto events = sse.waitFor(messages, "", 30s);
        REQUIRE(events.size() == messages);
        for (int i = 1; i <= messages; ++i) {
            auto envelope = nlohmann::json::parse(events[static_cast<std::size_t>(i - 1)].data);
            CHECK(envelope["seq"] == i);
            CHECK(envelope["data"]["pad"].get<std::string>().size() == static_cast<std::size_t>(20000 + i));
        }
    }
}

}  // namespace exact_bytes_test
