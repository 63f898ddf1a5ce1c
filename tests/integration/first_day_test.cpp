// Issue 25, the server's half: a first day without surprises. Each misuse is answered at
// once, where the user looks: a refused origin is named in the log and in the answer, a
// refused channel reaches a long-poll client in one round trip, the start-up lines say
// which broker and transports the server has, the metrics count what their names say, and
// the operator's mistakes in flags, config and environment are named.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "server_process.hpp"
#include "support/bystander.hpp"
#include "support/token_minter.hpp"

using namespace pushwire::test;
using namespace pushwire::testing;
using nlohmann::json;

namespace {

// Files in a temp dir, removed at the end.
struct TempDir {
    TempDir() {
        char pattern[] = "/tmp/pushwire-first-day-XXXXXX";
        dir = mkdtemp(pattern);
    }
    ~TempDir() { std::filesystem::remove_all(dir); }
    std::string path(const std::string& name) const { return dir + "/" + name; }
    void write(const std::string& name, const std::string& text) const {
        std::filesystem::create_directories(std::filesystem::path(path(name)).parent_path());
        std::ofstream(path(name), std::ios::binary) << text;
    }
    std::string dir;
};

std::string errorCodeOf(const std::string& body) {
    json j = json::parse(body, nullptr, false);
    if (j.is_object() && j.contains("error") && j["error"].is_object()) return j["error"].value("code", "");
    return "";
}

}  // namespace

TEST_CASE("long-poll: a channel outside the token's rights is answered at once, beside the allowed ones") {
    TempDir files;
    files.write("secret", kTestSecret);
    // A long-poll held for ten minutes if nothing answered it: the answer must not wait.
    ServerProcess server(
        {"--token-secret-file", files.path("secret"), "--public-publish", "chat:a", "--longpoll-timeout-ms", "600000"});
    const std::string token = mintHs256(kTestSecret, aliceClaims(unixNow() + 600));
    auto client = server.client();
    client.set_read_timeout(60, 0);  // only for a server that holds the answer
    auto answer = client.Get(("/pushwire/longpoll?channels=chat:a,user:bob&token=" + token).c_str());
    REQUIRE(answer);
    REQUIRE(answer->status == 200);
    json body = json::parse(answer->body);
    CHECK(body["messages"].empty());
    REQUIRE(body["refused"].size() == 1);
    CHECK(body["refused"][0]["channel"] == "user:bob");
    CHECK(body["refused"][0]["error"]["code"] == "forbidden");
    // The cursor names the allowed channel: the next long-poll asks for it alone, and waits
    // for a message on it.
    const std::string cursor = body["cursor"].get<std::string>();
    std::thread publisher([&] {
        server.waitMetric("pushwire_connections{transport=\"longpoll\"}", [](double n) { return n == 1; });
        publish(server, "chat:a", "1");
    });
    auto next = client.Get(("/pushwire/longpoll?channel=chat:a&token=" + token + "&since=" + cursor).c_str());
    publisher.join();
    REQUIRE(next);
    REQUIRE(next->status == 200);
    CHECK(json::parse(next->body)["messages"].size() == 1);
    // Every channel refused: the refusal itself, at once.
    auto none = client.Get(("/pushwire/longpoll?channels=user:bob,user:carol&token=" + token).c_str());
    REQUIRE(none);
    CHECK(none->status == 403);
    CHECK(errorCodeOf(none->body) == "forbidden");
}

TEST_CASE(
    "a page of an origin not in --allowed-origins is refused with origin_not_allowed, which it may read, and logged") {
    ServerProcess server({"--allowed-origins", "https://app.example"});
    auto client = server.client();
    const httplib::Headers evil = {{"Origin", "https://evil.example"}};
    for (const std::string path : {"/pushwire/negotiate", "/pushwire/poll?channel=a", "/pushwire/sse?channel=a",
                                   "/pushwire/longpoll?channel=a&timeout_ms=0", "/pushwire/ws"}) {
        INFO(path);
        auto answer = client.Get(path.c_str(), evil);
        REQUIRE(answer);
        CHECK(answer->status == 403);
        CHECK(errorCodeOf(answer->body) == "origin_not_allowed");
        CHECK(answer->body.find("--allowed-origins") != std::string::npos);
        // The page may read the refusal (and nothing else): CORS for this answer alone.
        CHECK(answer->get_header_value("Access-Control-Allow-Origin") == "https://evil.example");
    }
    auto publish = client.Post("/pushwire/publish", evil, R"({"channel":"a","data":1})", "application/json");
    REQUIRE(publish);
    CHECK(publish->status == 403);
    CHECK(errorCodeOf(publish->body) == "origin_not_allowed");
    CHECK(json::parse(client.Get("/pushwire/poll?channel=a&since=0")->body)["messages"].empty());  // not stored
    RawWebSocket socket(server.httpPort(), "/pushwire/ws", 0, "Origin: https://evil.example\r\n");
    CHECK_FALSE(socket.upgraded());
    CHECK(socket.head().rfind("HTTP/1.1 403", 0) == 0);
    // Pages of the allowed origin, of the server's own origin, and clients that are no page.
    CHECK(client.Get("/pushwire/negotiate", {{"Origin", "https://app.example"}})->status == 200);
    CHECK(client.Get("/pushwire/negotiate", {{"Origin", "http://127.0.0.1:" + std::to_string(server.httpPort())}})
              ->status == 200);
    CHECK(client.Get("/pushwire/negotiate")->status == 200);
    CHECK(server.metric("pushwire_forbidden_total") == 7);
    // The operator reads one line per origin (not one per request), naming it and the flag.
    CHECK(client.Get("/pushwire/negotiate", {{"Origin", "null"}})->status == 403);
    const std::string log = server.log();
    auto lines = [&](const std::string& needle) {
        std::size_t count = 0;
        for (std::size_t at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) ++count;
        return count;
    };
    CHECK(lines("warn origin_refused origin=https://evil.example") == 1);
    CHECK(lines("warn origin_refused origin=null") == 1);
    CHECK(lines("add it to --allowed-origins (now: https://app.example)") == 2);
}
