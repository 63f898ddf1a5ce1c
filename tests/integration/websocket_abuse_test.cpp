// WebSocket frames a hostile client builds by hand: lengths that overflow, encodings that
// are not minimal, close frames that break the rules, the same channel named a thousand
// times. Each is answered with the right close code (or delivered once), and a bystander
// keeps receiving.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "server_process.hpp"
#include "support/bystander.hpp"

using namespace pushwire::test;

namespace websocket_abuse_test {

namespace {

int messagesIn(const std::vector<RawWebSocket::Frame>& frames) {
    int n = 0;
    for (const auto& f : frames) {
        if (f.opcode == 1 && f.payload.find("\"type\":\"message\"") != std::string::npos) ++n;
    }
    return n;
}

}  // namespace

TEST_CASE("a continuation declaring 2^64-10 bytes is refused with 1009 at its header, and nothing is buffered") {
    ServerProcess server({"--max-message-bytes", "4096"});
    Bystander bystander(server);
    RawWebSocket ws(server.httpPort(), "/pushwire/ws");
    REQUIRE(ws.upgraded());
    const long before = residentKb(server.pid());
    ws.send(RawWebSocket::frame(1, "{\"type\":", false));
    ws.send(RawWebSocket::frame(0, "", false, 8, UINT64_MAX - 9).substr(0, 14));  // header and mask only
    CHECK(ws.waitClose() == 1009);
    // What the peer sends after the refused header is read and thrown away, not kept.
    const std::string junk(1 << 20, 'x');
    for (int i = 0; i < 20; ++i) {
        if (ws.socket().trySend(junk) < 0) break;
    }
    CHECK(ws.socket().closedByPeer());
    CHECK(residentKb(server.pid()) - before < 8 * 1024);
    bystander.stillWorks();
}

TEST_CASE("every split of an oversized message into fragments is refused with 1009") {
    ServerProcess server({"--max-message-bytes", "1000"});  // frames up to 1000 + 4096
    Bystander bystander(server);
    const std::uint64_t limit = 1000 + 4096;
    const std::uint64_t huge = UINT64_MAX >> 1;
    const std::vector<std::vector<std::uint64_t>> splits = {
        {limit + 1}, {limit, 1},       {1, limit},    {limit / 2, limit / 2, 2}, {0, 0, limit + 1}, {1, huge},
        {huge, 1},   {100, huge - 50}, {5000, 96, 1}, {1, 1, 1, limit - 2},      {70000},           {huge}};
    for (const auto& split : splits) {
        INFO("fragments " << split.size() << ", first " << split[0]);
        RawWebSocket ws(server.httpPort(), "/pushwire/ws");
        REQUIRE(ws.upgraded());
        int code = 0;
        for (std::size_t i = 0; i < split.size() && code == 0; ++i) {
            const bool last = i + 1 == split.size();
            const std::uint64_t length = split[i];
            // Only the header is sent for lengths a test cannot send; the server must refuse
            // at the header whenever the total passes the limit.
            const std::string payload = length <= limit ? std::string(static_cast<std::size_t>(length), 'a') : "";
            std::string bytes = RawWebSocket::frame(i == 0 ? 1 : 0, payload, last, 0, length);
            if (length > limit) bytes.resize(bytes.size() - payload.size());
            ws.send(bytes);
            if (length > limit) break;
        }
        code = ws.waitClose();
        CHECK(code == 1009);
    }
    bystander.stillWorks();
}

TEST_CASE("length encodings that are not minimal close with 1002, and a 64-bit length with its top bit set with 1009") {
    ServerProcess server;
    Bystander bystander(server);
    struct Case {
        const char* what;
        std::string bytes;
    };
    const std::vector<Case> cases = {
        {"5 bytes in the 16-bit form", RawWebSocket::frame(1, "hello", true, 2)},
        {"5 bytes in the 64-bit form", RawWebSocket::frame(1, "hello", true, 8)},
        {"300 bytes in the 64-bit form", RawWebSocket::frame(1, std::string(300, 'a'), true, 8)},
    };
    for (const Case& c : cases) {
        INFO(c.what);
        RawWebSocket ws(server.httpPort(), "/pushwire/ws");
        REQUIRE(ws.upgraded());
        ws.send(c.bytes);
        CHECK(ws.waitClose() == 1002);
    }
    RawWebSocket topBit(server.httpPort(), "/pushwire/ws");
    topBit.send(RawWebSocket::frame(1, "", true, 8, (1ull << 63) | 5));
    CHECK(topBit.waitClose() == 1009);
    bystander.stillWorks();
}

TEST_CASE("close frames with a 1-byte payload or an invalid code are answered with 1002, and valid ones are echoed") {
    ServerProcess server;
    Bystander bystander(server);
    auto closeWith = [&](const std::string& payload) {
        RawWebSocket ws(server.httpPort(), "/pushwire/ws");
        REQUIRE(ws.upgraded());
        ws.send(RawWebSocket::frame(8, payload));
        return ws.waitClose();
    };
    auto code = [](int value) { return std::string{static_cast<char>(value >> 8), static_cast<char>(value & 0xff)}; };
    CHECK(closeWith("\x03") == 1002);
    CHECK(closeWith(code(999)) == 1002);
    CHECK(closeWith(code(1005)) == 1002);
    CHECK(closeWith(code(1016)) == 1002);
    CHECK(closeWith(code(5000)) == 1002);
    CHECK(closeWith(code(1000) + "\xff\xfe") == 1007);
    CHECK(closeWith(code(1001) + "bye") == 1001);
    CHECK(closeWith(code(4001)) == 4001);
    CHECK(closeWith("") == 1000);
    bystander.stillWorks();
}

TEST_CASE("a subscribe naming one channel a thousand times delivers each message once") {
    ServerProcess server({"--heartbeat-ms", "200"});
    Bystander bystander(server);
    RawWebSocket ws(server.httpPort(), "/pushwire/ws");
    REQUIRE(ws.upgraded());
    nlohmann::json subscribe = {{"type", "subscribe"}, {"channels", std::vector<std::string>(1000, "dup")}};
    ws.sendText(subscribe.dump());
    ws.waitFor([](const auto& frames) {
        for (const auto& f : frames) {
            if (f.payload.find("subscribed") != std::string::npos) return true;
        }
        return false;
    });
    for (int i = 0; i < 3; ++i) publish(server, "dup", std::to_string(i));
    ws.waitFor([](const auto& all) { return messagesIn(all) >= 3; });
    // A repeat would be queued before the next heartbeat's ping frame.
    auto frames = ws.waitFor([](const auto& all) {
        int messages = 0;
        for (const auto& f : all) {
            if (f.opcode != 1) continue;
            messages += f.payload.find("\"type\":\"message\"") != std::string::npos ? 1 : 0;
            if (messages >= 3 && f.payload.find("\"type\":\"ping\"") != std::string::npos) return true;
        }
        return false;
    });
    CHECK(messagesIn(frames) == 3);
    bystander.stillWorks();
}

TEST_CASE("a subscribe of a thousand channels with a 2000-entry cursor is refused at once, not worked through") {
    ServerProcess server;
    Bystander bystander(server);
    RawWebSocket ws(server.httpPort(), "/pushwire/ws");
    REQUIRE(ws.upgraded());
    std::vector<std::string> channels;
    std::string since;
    for (int i = 0; i < 2138; ++i) {
        if (i < 1000) channels.push_back("channel-number-" + std::to_string(i));
        since += (i ? "," : "") + ("c" + std::to_string(i) + "@1");
    }
    for (int i = 0; i < 32; ++i) {
        ws.sendText(nlohmann::json{{"type", "subscribe"}, {"channels", channels}, {"since", since}}.dump());
    }
    auto frames = ws.waitFor([](const auto& all) { return all.size() >= 33; });  // welcome + 32 errors
    int errors = 0;
    for (const auto& f : frames) errors += f.payload.find("at most 256") != std::string::npos ? 1 : 0;
    CHECK(errors == 32);
    bystander.stillWorks();
}

}  // namespace websocket_abuse_test
