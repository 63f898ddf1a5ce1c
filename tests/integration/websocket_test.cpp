// WebSocket endpoint with a real websocketpp client: frames, resume, publish acks.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "server_process.hpp"

using namespace pushwire::test;
using nlohmann::json;

namespace websocket_test {

TEST_CASE("a WebSocket client is welcomed, subscribes, and receives messages in order") {
    ServerProcess server;
    WsClient ws(server.wsUrl());
    REQUIRE(ws.connected());
    std::string welcome = ws.waitFor(ofType("welcome"));
    REQUIRE_FALSE(welcome.empty());
    CHECK(field(welcome, "heartbeat_ms") == "10000");
    ws.send(R"({"type":"subscribe","channels":["w"],"id":1})");
    std::string subscribed = ws.waitFor(ofType("subscribed"));
    REQUIRE_FALSE(subscribed.empty());
    CHECK(field(subscribed, "id") == "1");
    for (int i = 1; i <= 20; ++i) publish(server, "w", std::to_string(i));
    for (int i = 1; i <= 20; ++i) {
        std::string m = ws.waitFor(ofType("message"));
        REQUIRE_FALSE(m.empty());
        json j = json::parse(m);
        CHECK(j["seq"] == i);
        CHECK(j["data"] == i);
        CHECK(j["channel"] == "w");
    }
}

TEST_CASE("WebSocket subscribe resumes after a position given in the frame or the URL") {
    ServerProcess server;
    for (int i = 1; i <= 5; ++i) publish(server, "r", std::to_string(i));
    SECTION("frame") {
        WsClient ws(server.wsUrl());
        ws.send(R"({"type":"subscribe","channel":"r","since":3})");
        CHECK(field(ws.waitFor(ofType("message")), "seq") == "4");
        CHECK(field(ws.waitFor(ofType("message")), "seq") == "5");
    }
    SECTION("url") {
        WsClient ws(server.wsUrl("?channel=r&since=r@4"));
        CHECK(field(ws.waitFor(ofType("message")), "seq") == "5");
    }
}

TEST_CASE("WebSocket publish is acknowledged with the assigned seq and fans out") {
    ServerProcess server;
    WsClient listener(server.wsUrl("?channel=chat"));
    listener.waitFor(ofType("subscribed"));
    WsClient publisher(server.wsUrl());
    publisher.send(R"({"type":"publish","channel":"chat","data":{"text":"héllo \"😀\""},"id":"p1"})");
    std::string ack = publisher.waitFor(ofType("ack"));
    REQUIRE_FALSE(ack.empty());
    CHECK(field(ack, "seq") == "1");
    CHECK(field(ack, "id") == "p1");
    std::string got = listener.waitFor(ofType("message"));
    REQUIRE_FALSE(got.empty());
    CHECK(json::parse(got)["data"]["text"] == "héllo \"😀\"");
}

TEST_CASE("WebSocket unsubscribe stops delivery on that channel only") {
    ServerProcess server;
    WsClient ws(server.wsUrl("?channels=a,b"));
    ws.waitFor(ofType("subscribed"));
    ws.send(R"({"type":"unsubscribe","channel":"a"})");
    ws.waitFor(ofType("unsubscribed"));
    publish(server, "a", "1");
    publish(server, "b", "1");
    std::string m = ws.waitFor(ofType("message"));
    CHECK(field(m, "channel") == "b");
    CHECK(ws.waitFor(ofType("message"), 300ms).empty());
}

TEST_CASE("WebSocket ping frames get a pong, and the server sends heartbeats") {
    ServerProcess server({"--heartbeat-ms", "200"});
    WsClient ws(server.wsUrl());
    ws.send(R"({"type":"ping"})");
    CHECK_FALSE(ws.waitFor(ofType("pong")).empty());
    CHECK_FALSE(ws.waitFor(ofType("ping"), 3000ms).empty());
}

TEST_CASE(
    "a WebSocket client silent for two heartbeats plus 2 s is closed with 1001, and one that answers pings "
    "stays") {
    const auto heartbeat = 300ms;
    ServerProcess server({"--heartbeat-ms", "300"});
    const auto opened = std::chrono::steady_clock::now();
    RawWebSocket silent(server.httpPort(), "/pushwire/ws");  // never answers the server's pings
    REQUIRE(silent.upgraded());
    WsClient answering(server.wsUrl());  // websocketpp answers every ping with a pong
    REQUIRE(answering.connected());
    CHECK(silent.waitClose(30s) == 1001);
    CHECK(std::chrono::steady_clock::now() - opened >= 2 * heartbeat + 2000ms);
    CHECK(answering.connected());
    CHECK(answering.waitClosed(0ms) == 0);
    // It is still served: a heartbeat comes after the silent one was let go.
    CHECK_FALSE(answering.waitFor(ofType("ping")).empty());
}

}  // namespace websocket_test
