// Who may read and write, on every transport, against the real server: tokens good and
// bad (expired, not yet valid, forged, alg none, HS/RS confusion), channel rights per
// channel, expiry of open streams, the API key, origins, and each limit with a bystander
// that keeps receiving.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "server_process.hpp"
#include "support/bystander.hpp"
#include "support/token_minter.hpp"

using namespace pushwire::test;
using namespace pushwire::testing;
using nlohmann::json;

namespace security_test {

namespace {

const std::string kSecret = "integration-secret-0123456789abcdef";
const std::string kApiKey = "integration-api-key-0123456789";

// Key files in a temp dir, removed at the end.
struct KeyFiles {
    KeyFiles() {
        char pattern[] = "/tmp/pushwire-keys-XXXXXX";
        dir = mkdtemp(pattern);
        write("secret", kSecret + "\n");  // the newline `echo` leaves is not part of it
        write("api-key", kApiKey + "\n");
        write("rsa.pem", rsa.publicPem());
    }
    ~KeyFiles() { std::filesystem::remove_all(dir); }
    std::string path(const std::string& name) const { return dir + "/" + name; }
    void write(const std::string& name, const std::string& text) const { std::ofstream(path(name)) << text; }
    std::string dir;
    KeyPair rsa{KeyPair::Kind::Rsa};
};

KeyFiles& keys() {
    static KeyFiles files;
    return files;
}

std::string alice(std::int64_t lifetime = 600) { return mintHs256(kSecret, aliceClaims(unixNow() + lifetime)); }

std::vector<std::string> secured(std::vector<std::string> more = {}) {
    std::vector<std::string> args = {"--token-secret-file", keys().path("secret"), "--api-key-file",
                                     keys().path("api-key")};
    args.insert(args.end(), more.begin(), more.end());
    return args;
}

struct BadToken {
    const char* name;
    std::string token;
    const char* code;
};

std::vector<BadToken> badTokens() {
    const auto now = unixNow();
    json future = aliceClaims(now + 600);
    future["nbf"] = now + 3600;
    std::string good = alice();
    std::string forged = good.substr(0, good.rfind('.') + 1) + base64Url(std::string(32, 'x'));
    return {
        {"expired", mintHs256(kSecret, aliceClaims(now - 60)), "token_expired"},
        {"not yet valid", mintHs256(kSecret, future), "unauthorized"},
        {"bad signature", forged, "unauthorized"},
        {"alg none", mintNone(aliceClaims(now + 600)), "unauthorized"},
        {"HS/RS confusion", mintConfused(keys().rsa, aliceClaims(now + 600)), "unauthorized"},
        {"garbage", "not.a.token", "unauthorized"},
    };
}

// A reader of an unrelated channel, with a token of its own, that must keep receiving
// whatever the test does to the server. `withKey`: publishes with the API key.
Bystander bystanderOf(ServerProcess& server, bool withKey) {
    httplib::Headers headers;
    if (withKey) headers.emplace("Authorization", "ApiKey " + kApiKey);
    return Bystander(
        server, "news:calm",
        "&token=" + mintHs256(kSecret, {{"sub", "bystander"}, {"exp", unixNow() + 3600}, {"subscribe", {"news:*"}}}),
        headers);
}

// The backend's publish (the API key).
std::uint64_t publishAsBackend(const ServerProcess& server, const std::string& channel, const std::string& data) {
    auto client = server.client();
    auto response = client.Post("/pushwire/publish", {{"Authorization", "ApiKey " + kApiKey}},
                                json{{"channel", channel}, {"data", json::parse(data)}}.dump(), "application/json");
    if (!response || response->status != 200) throw std::runtime_error("publish failed");
    return json::parse(response->body)["seq"].get<std::uint64_t>();
}

}  // namespace

TEST_CASE("poll and long-poll: no token 401, bad tokens 401, another's channel 403, own channel 200") {
    ServerProcess server(secured());
    auto client = server.client();
    for (const char* path : {"/pushwire/poll", "/pushwire/longpoll"}) {
        INFO(path);
        std::string base = std::string(path) + "?channel=chat:a&timeout_ms=0";
        auto none = client.Get(base.c_str());
        REQUIRE(none);
        CHECK(none->status == 401);
        CHECK(errorCodeOf(none->body) == "unauthorized");
        for (const BadToken& bad : badTokens()) {
            INFO(bad.name);
            auto answer = client.Get(base.c_str(), {{"Authorization", "Bearer " + bad.token}});
            REQUIRE(answer);
            CHECK(answer->status == 401);
            CHECK(errorCodeOf(answer->body) == bad.code);
            auto inQuery = client.Get((base + "&token=" + bad.token).c_str());
            REQUIRE(inQuery);
            CHECK(inQuery->status == 401);
        }
        auto other = client.Get((std::string(path) + "?channel=user:bob&timeout_ms=0").c_str(),
                                {{"Authorization", "Bearer " + alice()}});
        REQUIRE(other);
        CHECK(other->status == 403);
        CHECK(errorCodeOf(other->body) == "forbidden");
        auto own = client.Get(base.c_str(), {{"Authorization", "Bearer " + alice()}});
        REQUIRE(own);
        CHECK(own->status == 200);
        auto query = client.Get((base + "&token=" + alice()).c_str());
        REQUIRE(query);
        CHECK(query->status == 200);
    }
}

TEST_CASE("a server with only a public key refuses HS256 tokens, whatever they are signed with") {
    ServerProcess server({"--token-public-key-file", keys().path("rsa.pem")});
    auto client = server.client();
    const std::string path = "/pushwire/poll?channel=chat:a";
    auto confused = client.Get(path.c_str(),
                               {{"Authorization", "Bearer " + mintConfused(keys().rsa, aliceClaims(unixNow() + 600))}});
    REQUIRE(confused);
    CHECK(confused->status == 401);
    CHECK(confused->body.find("not accepted") != std::string::npos);
    auto none = client.Get(path.c_str(), {{"Authorization", "Bearer " + mintNone(aliceClaims(unixNow() + 600))}});
    REQUIRE(none);
    CHECK(none->status == 401);
    auto good =
        client.Get(path.c_str(), {{"Authorization", "Bearer " + mintWith(keys().rsa, aliceClaims(unixNow() + 600))}});
    REQUIRE(good);
    CHECK(good->status == 200);
}

TEST_CASE(
    "SSE: bad tokens are refused (401) before the stream, forbidden channels in a stream that ends, and a good "
    "token streams, by query, header or cookie") {
    ServerProcess server(secured({"--token-cookie", "pw"}));
    // A refusal is a JSON answer, not a stream (the client's constructor read its head).
    auto refusedWith = [](const SseClient& sse, int status) {
        CHECK(sse.status() == status);
        CHECK(sse.head().find("text/event-stream") == std::string::npos);
        CHECK(sse.head().find("application/json") != std::string::npos);
    };
    SseClient none(server.httpPort(), "/pushwire/sse?channel=chat:a");
    refusedWith(none, 401);
    for (const BadToken& bad : badTokens()) {
        INFO(bad.name);
        SseClient sse(server.httpPort(), "/pushwire/sse?channel=chat:a&token=" + bad.token);
        refusedWith(sse, 401);
    }
    // Every channel forbidden: a 200 event stream that says so (an EventSource cannot read
    // a 403), then ends.
    SseClient other(server.httpPort(), "/pushwire/sse?channels=user:bob,user:carol&token=" + alice());
    CHECK(other.status() == 200);
    CHECK(other.head().find("text/event-stream") != std::string::npos);
    auto refusals = other.waitFor(2, "error");
    REQUIRE(refusals.size() == 2);
    CHECK(json::parse(refusals[0].data)["channel"] == "user:bob");
    CHECK(json::parse(refusals[1].data)["channel"] == "user:carol");
    CHECK(json::parse(refusals[0].data)["error"]["code"] == "forbidden");
    CHECK(refusals[0].id.empty());
    CHECK(other.waitFor(1, "welcome").size() == 1);
    CHECK(other.ended());
    SseClient own(server.httpPort(), "/pushwire/sse?channel=chat:a&token=" + alice());
    SseClient byCookie(server.httpPort(), "/pushwire/sse?channel=chat:a", "Cookie: pw=" + alice() + "\r\n");
    SseClient byHeader(server.httpPort(), "/pushwire/sse?channel=chat:a", "Authorization: Bearer " + alice() + "\r\n");
    SseClient crossSiteCookie(server.httpPort(), "/pushwire/sse?channel=chat:a",
                              "Cookie: pw=" + alice() + "\r\nOrigin: https://evil.example\r\n");
    REQUIRE(own.waitFor(1, "welcome").size() == 1);
    REQUIRE(byCookie.waitFor(1, "welcome").size() == 1);
    REQUIRE(byHeader.waitFor(1, "welcome").size() == 1);
    refusedWith(crossSiteCookie, 401);  // the cookie of a cross-site page does not count
    publishAsBackend(server, "chat:a", "1");
    CHECK(own.waitFor(1).size() == 1);
    CHECK(byCookie.waitFor(1).size() == 1);
    CHECK(byHeader.waitFor(1).size() == 1);
}

TEST_CASE("WebSocket: a bad token in the URL closes with 4001 and an error frame, a good one subscribes") {
    ServerProcess server(secured());
    for (const BadToken& bad : badTokens()) {
        INFO(bad.name);
        RawWebSocket ws(server.httpPort(), "/pushwire/ws?channel=chat:a&token=" + bad.token);
        REQUIRE(ws.upgraded());
        CHECK(ws.waitClose() == 4001);
        bool sawError = false;
        for (const auto& frame : ws.waitFor([](auto&) { return false; }, 10ms)) {
            if (frame.opcode == 1 && errorCodeOf(frame.payload) == bad.code) sawError = true;
        }
        CHECK(sawError);
    }
    // No token: the connection opens, and subscribing is refused per channel.
    WsClient anonymous(server.wsUrl());
    anonymous.send(R"({"type":"subscribe","channel":"chat:a","id":7})");
    std::string refused = anonymous.waitFor(ofType("error"));
    CHECK(errorCodeOf(refused) == "unauthorized");
    CHECK(field(refused, "channel") == "chat:a");
    CHECK(field(refused, "id") == "7");
    WsClient own(server.wsUrl("?channel=chat:a&token=" + alice()));
    REQUIRE_FALSE(own.waitFor(ofType("subscribed")).empty());
    publishAsBackend(server, "chat:a", "1");
    CHECK_FALSE(own.waitFor(ofType("message")).empty());
}

TEST_CASE("WebSocket: the API key from a browser page gets an error frame and close 4003, while a backend may use it") {
    ServerProcess server(secured());
    RawWebSocket page(server.httpPort(), "/pushwire/ws", 0,
                      "Origin: https://app.example\r\nAuthorization: ApiKey " + kApiKey + "\r\n");
    REQUIRE(page.upgraded());
    CHECK(page.waitClose() == 4003);
    bool sawError = false;
    for (const auto& frame : page.waitFor([](auto&) { return false; }, 10ms)) {
        if (frame.opcode == 1 && errorCodeOf(frame.payload) == "forbidden") sawError = true;
    }
    CHECK(sawError);
    CHECK(server.metric("pushwire_forbidden_total") == 1);
    // No Origin: not a browser page, the key is the backend's.
    RawWebSocket backend(server.httpPort(), "/pushwire/ws", 0, "Authorization: ApiKey " + kApiKey + "\r\n");
    REQUIRE(backend.upgraded());
    backend.sendText(R"({"type":"publish","channel":"user:anyone","data":1,"id":1})");
    auto frames = backend.waitFor([](const auto& all) {
        for (const auto& f : all) {
            if (f.payload.find("\"type\":\"ack\"") != std::string::npos) return true;
        }
        return false;
    });
    CHECK(frames.back().payload.find("\"seq\":1") != std::string::npos);
}

TEST_CASE("WebSocket: the auth frame gives the connection its rights, a bad one closes it with 4001") {
    ServerProcess server(secured());
    WsClient ws(server.wsUrl());
    ws.waitFor(ofType("welcome"));
    ws.send(json{{"type", "auth"}, {"token", alice()}, {"id", "a1"}}.dump());
    std::string authorized = ws.waitFor(ofType("authorized"));
    REQUIRE_FALSE(authorized.empty());
    CHECK(field(authorized, "sub") == "alice");
    CHECK(field(authorized, "id") == "a1");
    ws.send(R"({"type":"subscribe","channels":["chat:a","user:bob","user:alice"],"id":2})");
    std::string error = ws.waitFor(ofType("error"));
    CHECK(errorCodeOf(error) == "forbidden");
    CHECK(field(error, "channel") == "user:bob");
    CHECK(field(error, "id") == "2");
    std::string subscribed = ws.waitFor(ofType("subscribed"));
    CHECK(json::parse(subscribed)["channels"] == json({"chat:a", "user:alice"}));
    publishAsBackend(server, "user:bob", "0");
    publishAsBackend(server, "user:alice", "1");
    std::string message = ws.waitFor(ofType("message"));
    CHECK(field(message, "channel") == "user:alice");
    // Publishing: inside the rights acked, outside refused for that channel.
    ws.send(R"({"type":"publish","channel":"chat:a","data":1,"id":"p1"})");
    CHECK_FALSE(ws.waitFor(ofType("ack")).empty());
    ws.send(R"({"type":"publish","channel":"user:alice","data":1,"id":"p2"})");
    std::string refusedPublish = ws.waitFor(ofType("error"));
    CHECK(errorCodeOf(refusedPublish) == "forbidden");
    CHECK(field(refusedPublish, "id") == "p2");
    // A token with fewer rights drops the channels it does not cover.
    ws.send(json{{"type", "auth"},
                 {"token", mintHs256(kSecret, {{"sub", "alice"}, {"exp", unixNow() + 600}, {"subscribe", {"chat:*"}}})}}
                .dump());
    std::string dropped = ws.waitFor(ofType("error"));
    CHECK(field(dropped, "channel") == "user:alice");
    ws.waitFor(ofType("authorized"));
    ws.send(json{{"type", "auth"}, {"token", "forged.token.x"}}.dump());
    CHECK(ws.waitClosed() == 4001);
}

TEST_CASE("a multi-channel request with one channel refused goes on with the others, on every transport") {
    ServerProcess server(secured());
    const std::string channels = "chat:a,user:bob";
    SECTION("poll") {
        publishAsBackend(server, "chat:a", "1");
        auto client = server.client();
        auto answer = client.Get(("/pushwire/poll?channels=" + channels + "&since=0&token=" + alice()).c_str());
        REQUIRE(answer);
        REQUIRE(answer->status == 200);
        json body = json::parse(answer->body);
        CHECK(body["messages"].size() == 1);
        REQUIRE(body["refused"].size() == 1);
        CHECK(body["refused"][0]["channel"] == "user:bob");
        CHECK(body["refused"][0]["error"]["code"] == "forbidden");
        // The cursor names the allowed channel: it resumes there, and only there.
        auto next = client.Get(("/pushwire/poll?channels=" + channels + "&token=" + alice() +
                                "&since=" + body["cursor"].get<std::string>())
                                   .c_str());
        REQUIRE(next);
        REQUIRE(next->status == 200);
        CHECK(json::parse(next->body)["messages"].empty());
    }
    SECTION("sse") {
        SseClient sse(server.httpPort(), "/pushwire/sse?channels=" + channels + "&token=" + alice());
        auto errors = sse.waitFor(1, "error");
        REQUIRE(errors.size() == 1);
        CHECK(json::parse(errors[0].data)["channel"] == "user:bob");
        CHECK(errors[0].id.empty());
        publishAsBackend(server, "user:bob", "0");
        publishAsBackend(server, "chat:a", "1");
        auto messages = sse.waitFor(1);
        REQUIRE(messages.size() == 1);
        CHECK(json::parse(messages[0].data)["channel"] == "chat:a");
    }
}

TEST_CASE("a stream whose token expires is told and closed at exp, on SSE, WebSocket and long-poll") {
    ServerProcess server(secured());
    const std::string token = alice(3);
    SseClient sse(server.httpPort(), "/pushwire/sse?channel=chat:a&token=" + token);
    WsClient ws(server.wsUrl("?channel=chat:a&token=" + token));
    REQUIRE(sse.waitFor(1, "welcome").size() == 1);
    REQUIRE_FALSE(ws.waitFor(ofType("subscribed")).empty());
    auto client = server.client();
    client.set_read_timeout(30, 0);
    // Asked to be held for two minutes: answered at exp (in 3 s) it comes well within the
    // client's 30 s read timeout; held to its own timeout it would not come at all.
    auto held = client.Get(("/pushwire/longpoll?channel=chat:a&timeout_ms=120000&token=" + token).c_str());
    REQUIRE(held);
    CHECK(held->status == 401);
    CHECK(errorCodeOf(held->body) == "token_expired");
    auto errors = sse.waitFor(1, "error", 5000ms);
    REQUIRE(errors.size() == 1);
    CHECK(json::parse(errors[0].data)["error"]["code"] == "token_expired");
    CHECK(ws.waitClosed() == 4001);
    CHECK_FALSE(ws.waitFor([](const std::string& f) { return errorCodeOf(f) == "token_expired"; }, 100ms).empty());
}

TEST_CASE("a WebSocket that sends a new token before exp stays open") {
    ServerProcess server(secured());
    WsClient ws(server.wsUrl("?channel=chat:a&token=" + alice(2)));
    REQUIRE_FALSE(ws.waitFor(ofType("subscribed")).empty());
    ws.send(json{{"type", "auth"}, {"token", alice(600)}}.dump());
    REQUIRE_FALSE(ws.waitFor(ofType("authorized")).empty());
    std::this_thread::sleep_for(3s);
    publishAsBackend(server, "chat:a", "1");
    CHECK_FALSE(ws.waitFor(ofType("message")).empty());
    CHECK(ws.waitClosed(100ms) == 0);
}

TEST_CASE("publish: tokens, rights, the API key (never from a browser), the batch form, all or nothing") {
    ServerProcess server(secured());
    auto client = server.client();
    auto post = [&](const std::string& body, httplib::Headers headers) {
        auto response = client.Post("/pushwire/publish", headers, body, "application/json");
        REQUIRE(response);
        return *response;
    };
    const std::string one = R"({"channel":"chat:a","data":1})";
    CHECK(post(one, {}).status == 401);
    CHECK(post(one, {{"Authorization", "Bearer " + alice()}}).status == 200);
    CHECK(post(R"({"channel":"user:alice","data":1})", {{"Authorization", "Bearer " + alice()}}).status == 403);
    CHECK(post(one, {{"Authorization", "ApiKey " + kApiKey}}).status == 200);
    CHECK(post(one, {{"Authorization", "ApiKey wrong-key-0123456789"}}).status == 401);
    auto fromBrowser = post(one, {{"Authorization", "ApiKey " + kApiKey}, {"Origin", "https://app.example"}});
    CHECK(fromBrowser.status == 403);
    CHECK(fromBrowser.body.find("browser") != std::string::npos);
    auto batch =
        post(R"({"channels":["chat:a","chat:b","user:x"],"data":{"n":1}})", {{"Authorization", "ApiKey " + kApiKey}});
    REQUIRE(batch.status == 200);
    json results = json::parse(batch.body)["results"];
    REQUIRE(results.size() == 3);
    CHECK(results[0]["channel"] == "chat:a");
    CHECK(results[0]["seq"] == 3);
    CHECK(results[2]["seq"] == 1);
    // A batch with one channel outside the rights publishes nothing.
    auto partial = post(R"({"channels":["chat:c","user:x"],"data":1})", {{"Authorization", "Bearer " + alice()}});
    CHECK(partial.status == 403);
    auto after = client.Get("/pushwire/poll?channel=chat:c", {{"Authorization", "Bearer " + alice()}});
    REQUIRE(after);
    CHECK(json::parse(after->body)["messages"].empty());
}

TEST_CASE("the public-subscribe and public-publish flags open channels to callers without a token") {
    ServerProcess server(secured({"--public-subscribe", "news:*", "--public-publish", "guestbook"}));
    auto client = server.client();
    CHECK(client.Get("/pushwire/poll?channel=news:x")->status == 200);
    CHECK(client.Get("/pushwire/poll?channel=chat:x")->status == 401);
    CHECK(client.Post("/pushwire/publish", R"({"channel":"guestbook","data":1})", "application/json")->status == 200);
    CHECK(client.Post("/pushwire/publish", R"({"channel":"news:x","data":1})", "application/json")->status == 401);
}

TEST_CASE("allowed origins: CORS for those only, WebSocket upgrades from others refused with 403, metrics never CORS") {
    ServerProcess server({"--allowed-origins", "https://app.example"});
    auto client = server.client();
    auto allowed = client.Get("/pushwire/poll?channel=a", {{"Origin", "https://app.example"}});
    REQUIRE(allowed);
    CHECK(allowed->get_header_value("Access-Control-Allow-Origin") == "https://app.example");
    CHECK(allowed->get_header_value("Access-Control-Allow-Credentials") == "true");
    // Another origin's page is refused (and may read only that: first_day_test.cpp).
    auto other = client.Get("/pushwire/poll?channel=a", {{"Origin", "https://evil.example"}});
    REQUIRE(other);
    CHECK(other->status == 403);
    CHECK(errorCodeOf(other->body) == "origin_not_allowed");
    auto preflight = client.Options("/pushwire/publish", {{"Origin", "https://app.example"},
                                                          {"Access-Control-Request-Method", "POST"},
                                                          {"Access-Control-Request-Headers", "authorization"}});
    REQUIRE(preflight);
    CHECK(preflight->get_header_value("Access-Control-Allow-Origin") == "https://app.example");
    CHECK(preflight->get_header_value("Access-Control-Allow-Headers").find("Authorization") != std::string::npos);
    RawWebSocket evil(server.httpPort(), "/pushwire/ws", 0, "Origin: https://evil.example\r\n");
    CHECK_FALSE(evil.upgraded());
    CHECK(evil.head().rfind("HTTP/1.1 403", 0) == 0);
    RawWebSocket good(server.httpPort(), "/pushwire/ws", 0, "Origin: https://app.example\r\n");
    CHECK(good.upgraded());
    RawWebSocket tool(server.httpPort(), "/pushwire/ws");  // no Origin: not a browser page
    CHECK(tool.upgraded());
    auto metrics = client.Get("/pushwire/metrics", {{"Origin", "https://app.example"}});
    REQUIRE(metrics);
    CHECK_FALSE(metrics->has_header("Access-Control-Allow-Origin"));
    auto openMetrics = ServerProcess().client().Get("/pushwire/metrics", {{"Origin", "https://x.example"}});
    REQUIRE(openMetrics);
    CHECK_FALSE(openMetrics->has_header("Access-Control-Allow-Origin"));
}

TEST_CASE("limit: connections per address, answered 429 and counted, other addresses and a bystander go on") {
    ServerProcess server({"--max-connections-per-ip", "5"});
    Bystander bystander = bystanderOf(server, false);  // from 127.0.0.1, the proxy address: not limited
    std::vector<std::unique_ptr<RawSocket>> held;
    for (int i = 0; i < 5; ++i) {
        held.push_back(std::make_unique<RawSocket>(server.httpPort(), 0, "127.0.0.2"));
        held.back()->send("GET /pushwire/sse?channel=x HTTP/1.1\r\nHost: a\r\n\r\n");
        held.back()->readUntil([](const std::string& b) { return b.find("welcome") != std::string::npos; });
    }
    RawSocket sixth(server.httpPort(), 0, "127.0.0.2");
    std::string answer = sixth.readUntil([](const std::string& b) { return b.find("}}") != std::string::npos; });
    CHECK(answer.rfind("HTTP/1.1 429", 0) == 0);
    CHECK(errorCodeOf(answer.substr(answer.find("\r\n\r\n") + 4)) == "rate_limited");
    RawSocket elsewhere(server.httpPort(), 0, "127.0.0.3");
    elsewhere.send("GET /pushwire/healthz HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(elsewhere.readUntil([](const std::string& b) { return b.find("}") != std::string::npos; })
              .rfind("HTTP/1.1 200", 0) == 0);
    held.clear();
    // The five are gone once the server counts only the bystander's stream.
    CHECK(server.waitMetric("pushwire_connections{transport=\"sse\"}", [](double n) { return n == 1; }) == 1);
    RawSocket again(server.httpPort(), 0, "127.0.0.2");
    again.send("GET /pushwire/healthz HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(again.readUntil([](const std::string& b) { return b.find("}") != std::string::npos; })
              .rfind("HTTP/1.1 200", 0) == 0);
    CHECK(server.metric("pushwire_limit_hits_total{limit=\"connections_per_ip\"}") == 1);
    bystander.stillWorks();
}

TEST_CASE("limit: publishes per second per token, 429 with Retry-After, then allowed again") {
    ServerProcess server(secured({"--publish-rate", "5"}));
    Bystander bystander = bystanderOf(server, true);
    auto client = server.client();
    int accepted = 0;
    bool refused = false;
    for (int i = 0; i < 20; ++i) {
        auto response = client.Post("/pushwire/publish", {{"Authorization", "Bearer " + alice()}},
                                    R"({"channel":"chat:a","data":1})", "application/json");
        REQUIRE(response);
        if (response->status == 200) {
            ++accepted;
        } else {
            CHECK(response->status == 429);
            CHECK(errorCodeOf(response->body) == "rate_limited");
            CHECK(response->get_header_value("Retry-After") == "1");
            refused = true;
            break;
        }
    }
    CHECK(accepted >= 5);
    CHECK(accepted < 20);
    CHECK(refused);
    // The backend is not limited; neither is another user.
    for (int i = 0; i < 20; ++i) publishAsBackend(server, "chat:a", "1");
    std::this_thread::sleep_for(1100ms);
    CHECK(client
              .Post("/pushwire/publish", {{"Authorization", "Bearer " + alice()}}, R"({"channel":"chat:a","data":1})",
                    "application/json")
              ->status == 200);
    // Over WebSocket: the error frame names the limit. Every publish is answered, with an
    // ack or an error; the metric counts each refusal (the HTTP one above too).
    WsClient ws(server.wsUrl("?token=" + alice()));
    for (int i = 0; i < 20; ++i)
        ws.send(R"({"type":"publish","channel":"chat:a","data":1,"id":)" + std::to_string(i) + "}");
    int answered = 0;
    int limited = 0;
    for (; answered < 20; ++answered) {
        std::string answer = ws.waitFor([](const std::string& f) { return !field(f, "id").empty(); });
        REQUIRE_FALSE(answer.empty());
        if (errorCodeOf(answer) == "rate_limited") ++limited;
    }
    CHECK(limited > 0);
    CHECK(server.metric("pushwire_limit_hits_total{limit=\"publish_rate\"}") == 1 + limited);
    bystander.stillWorks();
}

TEST_CASE("limit: channels per WebSocket connection") {
    ServerProcess server({"--max-channels-per-connection", "3"});
    Bystander bystander = bystanderOf(server, false);
    WsClient ws(server.wsUrl());
    ws.send(R"({"type":"subscribe","channels":["a","b","c"]})");
    ws.waitFor(ofType("subscribed"));
    ws.send(R"({"type":"subscribe","channels":["d"],"id":9})");
    std::string error = ws.waitFor(ofType("error"));
    CHECK(field(error, "id") == "9");
    CHECK(error.find("at most 3") != std::string::npos);
    CHECK(server.metric("pushwire_limit_hits_total{limit=\"channels_per_connection\"}") == 1);
    bystander.stillWorks();
}

TEST_CASE("limit: a million publishes to new channels keep RSS under the bound, and a bystander receives", "[rss]") {
    ServerProcess server(
        secured({"--public-subscribe", "*", "--max-channels", "20000", "--max-history-bytes", "16777216"}));
    Bystander bystander = bystanderOf(server, true);
    auto client = server.client();
    client.set_keep_alive(true);
    client.set_tcp_nodelay(true);  // head and body go in two writes: no 40 ms delayed-ACK wait
    const long before = residentKb(server.pid());
    std::string prefix = "flood:";
    // Under ASan a tenth (the same evictions from the 20001st channel on; the RSS bound is the
    // plain build's to check, below).
    const int kPublishes = serverSanitized() ? 100000 : 1000000;
    for (int request = 0; request < kPublishes / 250; ++request) {
        json channels = json::array();
        for (int i = 0; i < 250; ++i) channels.push_back(prefix + std::to_string(request * 250 + i));
        auto response = client.Post("/pushwire/publish", {{"Authorization", "ApiKey " + kApiKey}},
                                    json{{"channels", channels}, {"data", "x"}}.dump(), "application/json");
        REQUIRE(response);
        REQUIRE(response->status == 200);
        if (request % 1000 == 0) bystander.stillWorks();
    }
    const long grown = residentKb(server.pid()) - before;
    INFO("RSS grew by " << grown << " kB");
    // Under ASan the quarantine and shadow memory, not the server, decide RSS: the bound is
    // checked by the plain build; here the flood must still be answered and the bystander served.
    // 20000 channels and 16 MiB of history, with room for the allocator:
    if (!serverSanitized()) CHECK(grown < 96 * 1024);
    CHECK(server.metric("pushwire_broker_channels") == 20000);
    bystander.stillWorks();
}

}  // namespace security_test
