// The drain on SIGTERM (--drain-ms, docs: --help): streams are ended at once, new
// connections are refused, a client that stays holds the exit until the deadline and no
// longer, and a second signal stops at once.
#include <signal.h>

#include <catch2/catch.hpp>

#include "server_process.hpp"

using namespace pushwire::test;

namespace drain_test {

namespace {

// A request begun and never finished: the connection is busy, and the drain waits for it
// (the servers here give it ten minutes to finish: only the drain may end it).
std::unique_ptr<RawSocket> clientThatStays(const ServerProcess& server) {
    auto stays = std::make_unique<RawSocket>(server.httpPort());
    stays->send("GET /pushwire/healthz HTTP/1.1\r\nHost: x\r\n");
    return stays;
}

// Connecting fails once the server stopped accepting.
bool refusesConnections(const ServerProcess& server) {
    for (int i = 0; i < 500; ++i) {
        try {
            RawSocket probe(server.httpPort());
        } catch (const std::runtime_error&) {
            return true;
        }
        std::this_thread::sleep_for(10ms);
    }
    return false;
}

}  // namespace

TEST_CASE(
    "SIGTERM drain: streams end and new connections are refused at once, while a client that stays holds the "
    "exit; a second signal stops at once") {
    ServerProcess server({"--drain-ms", "120000", "--request-timeout-ms", "600000"});
    SseClient stream(server.httpPort(), "/pushwire/sse?channel=d");
    REQUIRE(stream.waitFor(1, "welcome").size() == 1);
    auto stays = clientThatStays(server);
    // Both are in: the server counts them (and the connection asking).
    REQUIRE(server.waitMetric("pushwire_http_connections", [](double n) { return n >= 3; }) >= 3);
    server.signal(SIGTERM);
    // The drain, not the exit, ends the stream and stops accepting: the client that stays
    // is still connected when both are seen (the exit would close it too).
    CHECK(stream.ended(10s));
    CHECK(refusesConnections(server));
    CHECK_FALSE(stays->closedByPeer(100ms));
    REQUIRE(server.alive());
    server.signal(SIGTERM);
    const auto status = server.waitExit(30s);  // the drain had two minutes left
    REQUIRE(status);
    CHECK(*status == 0);
}

TEST_CASE("SIGTERM drain: a client that stays holds the exit until --drain-ms, and no longer") {
    ServerProcess server({"--drain-ms", "1500", "--request-timeout-ms", "600000"});
    auto stays = clientThatStays(server);
    REQUIRE(server.waitMetric("pushwire_http_connections", [](double n) { return n >= 2; }) >= 2);
    const auto signalled = std::chrono::steady_clock::now();
    server.signal(SIGTERM);
    const auto status = server.waitExit(30s);
    REQUIRE(status);
    CHECK(*status == 0);
    CHECK(std::chrono::steady_clock::now() - signalled >= 1500ms);
    CHECK(stays->closedByPeer(1000ms));
}

}  // namespace drain_test
