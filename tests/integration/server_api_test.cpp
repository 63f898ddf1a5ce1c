// The server API (POST /pushwire/api/<method>) against the real server: who may call it,
// every method's bad input, and what each method does to real connections on every
// transport (WebSocket, SSE, long-poll, poll).
#include <openssl/sha.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <set>

#include "harness.hpp"
#include "server_process.hpp"
#include "support/key_files.hpp"
#include "support/token_minter.hpp"

using namespace pushwire::test;
using namespace pushwire::testing;
using nlohmann::json;

namespace server_api_test {

namespace {

const std::string kSecret = "server-api-secret-0123456789abcdef";
const std::string kApiKey = "server-api-key-0123456789";

const KeyFiles& keys() {
    static KeyFiles files(kSecret, kApiKey);
    return files;
}

std::vector<std::string> secured(std::vector<std::string> more = {}) {
    std::vector<std::string> args = {"--token-secret-file", keys().dir + "/secret", "--api-key-file",
                                     keys().dir + "/api-key"};
    args.insert(args.end(), more.begin(), more.end());
    return args;
}

// A token of `user` reading every channel, issued `age` seconds ago.
std::string tokenOf(const std::string& user, std::int64_t age = 0, std::int64_t lifetime = 600) {
    const std::int64_t now = unixNow();
    return mintHs256(
        kSecret,
        {{"sub", user}, {"iat", now - age}, {"exp", now - age + lifetime}, {"subscribe", {"*"}}, {"publish", {"*"}}});
}

struct Answer {
    int status = 0;
    json body;
    std::string code() const { return body.contains("error") ? body["error"].value("code", "") : ""; }
    std::string message() const { return body.contains("error") ? body["error"].value("message", "") : ""; }
};

Answer call(const ServerProcess& server, const std::string& method, const std::string& body,
            const std::string& authorization = "ApiKey " + kApiKey) {
    auto client = server.client();
    httplib::Headers headers;
    if (!authorization.empty()) headers.emplace("Authorization", authorization);
    auto response = client.Post(("/pushwire/api/" + method).c_str(), headers, body, "application/json");
    if (!response) throw std::runtime_error("no answer to " + method);
    return Answer{response->status, json::parse(response->body, nullptr, false)};
}

std::uint64_t publish(const ServerProcess& server, const std::string& channel, int value) {
    auto client = server.client();
    auto response = client.Post("/pushwire/publish", {{"Authorization", "ApiKey " + kApiKey}},
                                json{{"channel", channel}, {"data", value}}.dump(), "application/json");
    if (!response || response->status != 200) throw std::runtime_error("publish failed");
    return json::parse(response->body)["seq"].get<std::uint64_t>();
}

// The client id of a session: the first 32 hex digits of its SHA-256 (docs/protocol.md).
std::string sha256Prefix(const std::string& session) {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(session.data()), session.size(), digest);
    std::string out;
    for (int i = 0; i < 16; ++i) {
        out += "0123456789abcdef"[digest[i] >> 4];
        out += "0123456789abcdef"[digest[i] & 15];
    }
    return out;
}

// A long-poll of `user` on `channel` in another thread, held by the server when this returns.
struct HeldLongPoll {
    HeldLongPoll(const ServerProcess& server, const std::string& token, const std::string& channel,
                 const std::string& session = "") {
        const double before = server.metric("pushwire_longpolls_waiting").value_or(0);
        std::string target = "/pushwire/longpoll?channel=" + channel + "&timeout_ms=60000&token=" + token;
        if (!session.empty()) target += "&session=" + session;
        answer = std::async(std::launch::async, [&server, target] {
            auto client = server.client();
            client.set_read_timeout(60, 0);
            auto response = client.Get(target.c_str());
            return response ? Answer{response->status, json::parse(response->body, nullptr, false)} : Answer{};
        });
        server.waitMetric("pushwire_longpolls_waiting", [&](double v) { return v > before; });
    }
    Answer get() { return answer.get(); }
    std::future<Answer> answer;
};

Answer poll(const ServerProcess& server, const std::string& token, const std::string& query) {
    auto client = server.client();
    auto response = client.Get(("/pushwire/poll?" + query + "&token=" + token).c_str());
    if (!response) throw std::runtime_error("no answer to poll");
    return Answer{response->status, json::parse(response->body, nullptr, false)};
}

}  // namespace

TEST_CASE("the server API is the backend's: an API key, not a user token, not a stranger") {
    ServerProcess server(secured());
    CHECK(call(server, "info", "{}").status == 200);
    auto stranger = call(server, "info", "{}", "");
    CHECK(stranger.status == 401);
    CHECK(stranger.code() == "unauthorized");
    auto wrongKey = call(server, "info", "{}", "ApiKey not-the-key-0123456789");
    CHECK(wrongKey.status == 401);
    auto user = call(server, "info", "{}", "Bearer " + tokenOf("alice"));
    CHECK(user.status == 403);
    CHECK(user.code() == "forbidden");
    // A stranger is not told which methods exist.
    CHECK(call(server, "no_such_method", "{}", "").status == 401);

    SECTION("an open server's API is open, as its publish is") {
        ServerProcess open;
        CHECK(call(open, "info", "{}", "").status == 200);
    }
}

TEST_CASE("every server API method answers bad input with a JSON error naming the field") {
    ServerProcess server(secured());
    struct Case {
        const char* method;
        std::string body;
        int status;
        const char* code;
        const char* mention;  // in the message
    };
    const std::string longUser(300, 'u');
    const std::vector<Case> cases = {
        {"no_such_method", "{}", 404, "unknown_method", "no_such_method"},
        {"", "{}", 404, "unknown_method", "methods:"},
        {"info", "[1,2]", 400, "bad_request", "array"},
        {"info", "{not json", 400, "bad_request", "not JSON"},
        {"info", R"({"x":1})", 400, "bad_request", "'x'"},
        {"history", "{}", 400, "bad_request", "channel"},
        {"history", R"({"channel":5})", 400, "bad_request", "channel"},
        {"history", R"({"channel":"a b"})", 400, "bad_request", "channel"},
        {"history", R"({"channel":"a","limit":0})", 400, "bad_request", "limit"},
        {"history", R"({"channel":"a","limit":1001})", 400, "bad_request", "limit"},
        {"history", R"({"channel":"a","limit":"5"})", 400, "bad_request", "limit"},
        {"history", R"({"channel":"a","since":"%%%"})", 400, "bad_cursor", "since"},
        {"history", R"({"channel":"a","chanel":"a"})", 400, "bad_request", "chanel"},
        {"channels", R"({"pattern":"a b"})", 400, "bad_request", "pattern"},
        {"channels", R"({"pattern":"a,b"})", 400, "bad_request", "pattern"},
        {"channels", R"({"limit":-1})", 400, "bad_request", "limit"},
        {"channels", R"({"cursor":7})", 400, "bad_request", "cursor"},
        {"disconnect", "{}", 400, "bad_request", "user"},
        {"disconnect", R"({"user":""})", 400, "bad_request", "user"},
        {"disconnect", R"({"user":")" + longUser + R"("})", 400, "bad_request", "user"},
        {"disconnect", R"({"user":"a","reconnect":"yes"})", 400, "bad_request", "reconnect"},
        {"disconnect", R"({"user":"a","client":"xyz"})", 400, "bad_request", "client"},
        {"unsubscribe", R"({"user":"a"})", 400, "bad_request", "channel"},
        {"unsubscribe", R"({"channel":"a"})", 400, "bad_request", "user"},
        {"subscribe", R"({"user":"a","channel":"*"})", 400, "bad_request", "channel"},
        {"subscribe", R"({"user":["a"],"channel":"c"})", 400, "bad_request", "user"},
        {"revoke", "{}", 400, "bad_request", "user"},
        {"revoke", R"({"user":"a","before":"yesterday"})", 400, "bad_request", "before"},
        {"revoke", R"({"user":"a","before":1e30})", 400, "bad_request", "before"},
        {"revoke", R"({"user":"a","before":99999999999})", 400, "bad_request", "before"},
        // A field given twice: refused (parsers differ on which wins), not the last taken.
        {"disconnect", R"({"user":"a","user":"b"})", 400, "bad_request", "'user' is given twice"},
        {"history", R"({"channel":"a","limit":5,"limit":6})", 400, "bad_request", "'limit' is given twice"},
    };
    for (const Case& c : cases) {
        INFO(c.method << " " << c.body);
        Answer answer = call(server, c.method, c.body);
        CHECK(answer.status == c.status);
        CHECK(answer.code() == c.code);
        CHECK_THAT(answer.message(), Catch::Contains(c.mention));
    }
    CHECK(server.metric("pushwire_api_calls_total{method=\"unknown\",result=\"unknown_method\"}") == 2);
    CHECK(server.metric("pushwire_api_calls_total{method=\"history\",result=\"bad_request\"}") >= 8);
    SECTION("not POST: 405; a body past 64 KiB: 413") {
        auto client = server.client();
        auto get = client.Get("/pushwire/api/info", {{"Authorization", "ApiKey " + kApiKey}});
        REQUIRE(get);
        CHECK(get->status == 405);
        auto big = call(server, "history", R"({"channel":"a","since":")" + std::string(70000, 'x') + "\"}");
        CHECK(big.status == 413);
    }
    CHECK(server.alive());
}

TEST_CASE("history returns a channel's messages after a position, and the position to go on from") {
    ServerProcess server(secured());
    for (int i = 1; i <= 5; ++i) publish(server, "news", i);
    auto all = call(server, "history", R"({"channel":"news"})");
    REQUIRE(all.status == 200);
    CHECK(server.metric("pushwire_api_calls_total{method=\"history\",result=\"ok\"}") == 1);
    REQUIRE(all.body["messages"].size() == 5);
    CHECK(all.body["messages"][0]["data"] == 1);
    CHECK(all.body["more"] == false);
    auto firstTwo = call(server, "history", R"({"channel":"news","limit":2})");
    REQUIRE(firstTwo.body["messages"].size() == 2);
    CHECK(firstTwo.body["more"] == true);
    auto rest = call(server, "history", json{{"channel", "news"}, {"since", firstTwo.body["position"]}}.dump());
    REQUIRE(rest.body["messages"].size() == 3);
    CHECK(rest.body["messages"][0]["seq"] == 3);
    // The position after the last one: nothing more, until something is published.
    auto none = call(server, "history", json{{"channel", "news"}, {"since", rest.body["position"]}}.dump());
    CHECK(none.body["messages"].empty());
    CHECK(none.body["position"] == rest.body["position"]);
    publish(server, "news", 6);
    auto six = call(server, "history", json{{"channel", "news"}, {"since", rest.body["position"]}}.dump());
    REQUIRE(six.body["messages"].size() == 1);
    CHECK(six.body["messages"][0]["data"] == 6);
}

TEST_CASE("channels lists the channels held, by pattern, a page at a time") {
    ServerProcess server(secured());
    for (int i = 0; i < 25; ++i) publish(server, "room:" + std::to_string(100 + i), i);
    publish(server, "other", 1);
    std::vector<std::string> seen;
    std::string cursor;
    int pages = 0;
    do {
        json body = {{"pattern", "room:*"}, {"limit", 10}};
        if (!cursor.empty()) body["cursor"] = cursor;
        auto page = call(server, "channels", body.dump());
        REQUIRE(page.status == 200);
        REQUIRE(page.body["channels"].size() <= 10);
        for (const auto& name : page.body["channels"]) seen.push_back(name);
        cursor = page.body["cursor"].is_null() ? "" : page.body["cursor"].get<std::string>();
        ++pages;
    } while (!cursor.empty() && pages < 10);
    CHECK(pages == 3);
    REQUIRE(seen.size() == 25);
    CHECK(seen.front() == "room:100");
    CHECK(seen.back() == "room:124");
    auto everything = call(server, "channels", "{}");
    CHECK(everything.body["channels"].size() == 26);
    CHECK(everything.body["cursor"].is_null());
}

TEST_CASE("info describes the node: id, uptime, connections, subscriptions, broker") {
    ServerProcess server(secured());
    WsClient ws(server.wsUrl("?channel=a&token=" + tokenOf("alice")));
    REQUIRE_FALSE(ws.waitFor(ofType("subscribed")).empty());
    auto info = call(server, "info", "");
    REQUIRE(info.status == 200);
    REQUIRE(info.body["nodes"].size() == 1);
    const json& node = info.body["nodes"][0];
    CHECK(node["id"].get<std::string>().size() == 16);
    CHECK(node["uptime_s"] >= 0);
    CHECK(node["connections"] == 1);
    CHECK(node["subscriptions"] == 1);
    CHECK(node["broker"]["kind"] == "memory");
    CHECK(node["broker"]["state"] == "ok");
}

TEST_CASE("disconnect closes every connection of a user, on every transport, saying whether to reconnect") {
    ServerProcess server(secured());
    const std::string alice = tokenOf("alice"), bob = tokenOf("bob");
    for (bool reconnect : {false, true}) {
        DYNAMIC_SECTION("reconnect " << reconnect) {
            WsClient ws(server.wsUrl("?channel=a&token=" + alice));
            WsClient bobWs(server.wsUrl("?channel=a&token=" + bob));
            SseClient sse(server.httpPort(),
                          "/pushwire/sse?channel=a&session=sse0session0000000000000000000001&token=" + alice);
            REQUIRE_FALSE(ws.waitFor(ofType("subscribed")).empty());
            REQUIRE_FALSE(bobWs.waitFor(ofType("subscribed")).empty());
            REQUIRE(sse.waitFor(1, "welcome").size() == 1);
            REQUIRE(poll(server, alice, "channel=a&session=poll0session000000000000000000001").status == 200);
            HeldLongPoll held(server, alice, "a", "longpoll0session00000000000000001");

            auto answer = call(server, "disconnect", json{{"user", "alice"}, {"reconnect", reconnect}}.dump());
            REQUIRE(answer.status == 200);
            // The WebSocket, the event stream, the poller and the long-poller.
            CHECK(answer.body["disconnected"] == 4);

            CHECK(ws.waitClosed() == (reconnect ? 4006 : 4005));
            auto events = sse.waitFor(1, "disconnect");
            REQUIRE(events.size() == 1);
            CHECK(json::parse(events[0].data)["reconnect"] == reconnect);
            CHECK(sse.ended());
            Answer parked = held.get();
            CHECK(parked.status == 409);
            CHECK(parked.code() == "disconnected");
            CHECK(parked.body["error"]["reconnect"] == reconnect);
            Answer next = poll(server, alice, "channel=a&session=poll0session000000000000000000001");
            CHECK(next.status == 409);
            CHECK(next.body["error"]["reconnect"] == reconnect);
            // Told to reconnect: refused once; told not to: refused while the mark lasts,
            // the event stream's URL as well (a plain EventSource stops there).
            CHECK(poll(server, alice, "channel=a&session=poll0session000000000000000000001").status ==
                  (reconnect ? 200 : 409));
            SseClient again(server.httpPort(),
                            "/pushwire/sse?channel=a&session=sse0session0000000000000000000001&token=" + alice);
            if (!reconnect) {
                again.waitFor(0);
                CHECK(again.status() == 409);
            } else {
                CHECK(again.waitFor(1, "welcome").size() == 1);
            }
            // Bob is untouched.
            CHECK(bobWs.waitClosed(100ms) == 0);
            publish(server, "a", 1);
            CHECK_FALSE(bobWs.waitFor(ofType("message")).empty());
        }
    }
}

TEST_CASE("disconnect with a client id closes that client only") {
    ServerProcess server(secured());
    const std::string alice = tokenOf("alice");
    WsClient one(server.wsUrl("?channel=a&session=first0session0000000000000000001&token=" + alice));
    WsClient two(server.wsUrl("?channel=a&session=second0session000000000000000001&token=" + alice));
    REQUIRE_FALSE(one.waitFor(ofType("subscribed")).empty());
    REQUIRE_FALSE(two.waitFor(ofType("subscribed")).empty());
    // The client id of session=first0session0000000000000000001: the first 32 hex digits of its SHA-256.
    const std::string firstId = sha256Prefix("first0session0000000000000000001");
    auto answer = call(server, "disconnect", json{{"user", "alice"}, {"client", firstId}}.dump());
    REQUIRE(answer.status == 200);
    CHECK(answer.body["disconnected"] == 1);
    CHECK(one.waitClosed() == 4005);
    CHECK(two.waitClosed(100ms) == 0);
}

TEST_CASE("unsubscribe and subscribe move a user's connections out of and into a channel, on every transport") {
    ServerProcess server(secured());
    const std::string alice = tokenOf("alice");
    WsClient ws(server.wsUrl("?channels=a,b&token=" + alice));
    SseClient sse(server.httpPort(), "/pushwire/sse?channels=a,b&token=" + alice);
    REQUIRE_FALSE(ws.waitFor(ofType("subscribed")).empty());
    REQUIRE(sse.waitFor(1, "welcome").size() == 1);
    REQUIRE(poll(server, alice, "channels=a,b&session=poller0session0000000000000000001").status == 200);

    auto out = call(server, "unsubscribe", R"({"user":"alice","channel":"a"})");
    REQUIRE(out.status == 200);
    CHECK(out.body["connections"] == 3);  // the WebSocket, the stream, the poller
    std::string frame = ws.waitFor(ofType("unsubscribed"));
    REQUIRE_FALSE(frame.empty());
    CHECK(json::parse(frame)["channels"] == json{"a"});
    CHECK(json::parse(frame)["server"] == true);
    REQUIRE(sse.waitFor(1, "unsubscribed").size() == 1);
    // The poller names a in its next requests; it is left out and said to be.
    Answer next = poll(server, alice, "channels=a,b&session=poller0session0000000000000000001");
    REQUIRE(next.status == 200);
    CHECK(next.body["unsubscribed"] == json{"a"});

    publish(server, "a", 1);
    publish(server, "b", 2);
    std::string message = ws.waitFor(ofType("message"));
    REQUIRE_FALSE(message.empty());
    CHECK(json::parse(message)["channel"] == "b");
    auto events = sse.waitFor(1);
    REQUIRE(events.size() == 1);
    CHECK(json::parse(events[0].data)["channel"] == "b");

    auto in = call(server, "subscribe", R"({"user":"alice","channel":"c"})");
    REQUIRE(in.status == 200);
    CHECK(in.body["connections"] == 3);
    frame = ws.waitFor(ofType("subscribed"));
    REQUIRE_FALSE(frame.empty());
    CHECK(json::parse(frame)["channels"] == json{"c"});
    CHECK(json::parse(frame)["server"] == true);
    REQUIRE(sse.waitFor(1, "subscribed").size() == 1);
    Answer withC = poll(server, alice, "channels=b&session=poller0session0000000000000000001");
    REQUIRE(withC.status == 200);
    CHECK(withC.body["subscribed"] == json{"c"});
    publish(server, "c", 3);
    message =
        ws.waitFor([](const std::string& f) { return field(f, "type") == "message" && field(f, "channel") == "c"; });
    CHECK_FALSE(message.empty());
    CHECK(sse.waitFor(2).size() == 2);
    // The poller's cursor names c: its next poll from it reads c's message.
    Answer fromCursor =
        poll(server, alice,
             "channels=b,c&session=poller0session0000000000000000001&since=" + withC.body["cursor"].get<std::string>());
    REQUIRE(fromCursor.status == 200);
    REQUIRE(fromCursor.body["messages"].size() == 1);
    CHECK(fromCursor.body["messages"][0]["data"] == 3);

    SECTION("a user without connections: 0") {
        CHECK(call(server, "subscribe", R"({"user":"nobody","channel":"c"})").body["connections"] == 0);
    }
}

TEST_CASE("revoke refuses a user's tokens issued before, on all four transports, and closes open ones") {
    ServerProcess server(secured());
    const std::string old = tokenOf("alice", 100), bobs = tokenOf("bob", 100);
    WsClient ws(server.wsUrl("?channel=a&token=" + old));
    SseClient sse(server.httpPort(), "/pushwire/sse?channel=a&token=" + old);
    WsClient bobWs(server.wsUrl("?channel=a&token=" + bobs));
    REQUIRE_FALSE(ws.waitFor(ofType("subscribed")).empty());
    REQUIRE_FALSE(bobWs.waitFor(ofType("subscribed")).empty());
    REQUIRE(sse.waitFor(1, "welcome").size() == 1);
    HeldLongPoll held(server, old, "a");

    auto answer = call(server, "revoke", json{{"user", "alice"}, {"before", unixNow() - 10}}.dump());
    REQUIRE(answer.status == 200);
    CHECK(answer.body == json::object());

    CHECK(ws.waitClosed() == 4001);
    CHECK_FALSE(
        ws.waitFor([](const std::string& f) { return f.find("\"token_revoked\"") != std::string::npos; }, 1000ms)
            .empty());
    auto errors = sse.waitFor(1, "error");
    REQUIRE(errors.size() == 1);
    CHECK(json::parse(errors[0].data)["error"]["code"] == "token_revoked");
    CHECK(sse.ended());
    Answer parked = held.get();
    CHECK(parked.status == 401);
    CHECK(parked.code() == "token_revoked");

    // The old token is refused everywhere from now on.
    Answer polled = poll(server, old, "channel=a");
    CHECK(polled.status == 401);
    CHECK(polled.code() == "token_revoked");
    auto client = server.client();
    auto longpoll = client.Get(("/pushwire/longpoll?channel=a&timeout_ms=0&token=" + old).c_str());
    REQUIRE(longpoll);
    CHECK(longpoll->status == 401);
    SseClient sseAgain(server.httpPort(), "/pushwire/sse?channel=a&token=" + old);
    sseAgain.waitFor(0);
    CHECK(sseAgain.status() == 401);
    WsClient wsAgain(server.wsUrl("?channel=a&token=" + old));
    CHECK(wsAgain.waitClosed() == 4001);
    auto publishing = client.Post("/pushwire/publish", {{"Authorization", "Bearer " + old}},
                                  R"({"channel":"a","data":1})", "application/json");
    REQUIRE(publishing);
    CHECK(publishing->status == 401);
    // Also handed over in a WebSocket auth frame.
    WsClient anonymous(server.wsUrl());
    anonymous.send(json{{"type", "auth"}, {"token", old}}.dump());
    CHECK(anonymous.waitClosed() == 4001);

    // A token issued after `before` works; bob was never revoked.
    CHECK(poll(server, tokenOf("alice"), "channel=a").status == 200);
    CHECK(bobWs.waitClosed(100ms) == 0);
    CHECK(poll(server, bobs, "channel=a").status == 200);
}

TEST_CASE("tokens that live longer than --max-token-lifetime are refused, so a revocation can be forgotten safely") {
    ServerProcess server(secured({"--max-token-lifetime", "3600"}));
    CHECK(poll(server, tokenOf("alice", 0, 3600), "channel=a").status == 200);
    Answer tooLong = poll(server, tokenOf("alice", 0, 3601), "channel=a");
    CHECK(tooLong.status == 401);
    CHECK_THAT(tooLong.message(), Catch::Contains("--max-token-lifetime"));
    // Without iat: counted from now.
    const std::string noIat = mintHs256(kSecret, {{"sub", "x"}, {"exp", unixNow() + 7200}, {"subscribe", {"*"}}});
    CHECK(poll(server, noIat, "channel=a").status == 401);
    // A revocation ahead of now by more than the lifetime is refused as input.
    CHECK(call(server, "revoke", json{{"user", "a"}, {"before", unixNow() + 4000}}.dump()).status == 400);
}

TEST_CASE("presence and presence_stats read a presence channel's members and numbers") {
    ServerProcess server(secured({"--presence", "room:*"}));
    const std::string session = "presence0session0000000000000001";
    WsClient one(server.wsUrl("?channel=room:1&session=" + session + "&token=" + tokenOf("alice")));
    WsClient two(server.wsUrl("?channel=room:1&token=" + tokenOf("alice")));
    WsClient three(server.wsUrl("?channel=room:1&token=" + tokenOf("bob")));
    for (WsClient* ws : {&one, &two, &three}) REQUIRE_FALSE(ws->waitFor(ofType("subscribed")).empty());
    Answer stats;
    for (int i = 0; i < 200; ++i) {  // members join on the loop's next turn
        stats = call(server, "presence_stats", R"({"channel":"room:1"})");
        if (stats.body.value("clients", 0) == 3) break;
        std::this_thread::sleep_for(25ms);
    }
    REQUIRE(stats.status == 200);
    CHECK(stats.body["clients"] == 3);
    CHECK(stats.body["users"] == 2);
    Answer members = call(server, "presence", R"({"channel":"room:1"})");
    REQUIRE(members.status == 200);
    REQUIRE(members.body["members"].size() == 3);
    std::set<std::string> users, clients;
    for (const auto& member : members.body["members"]) {
        users.insert(member["user"].get<std::string>());
        clients.insert(member["client"].get<std::string>());
    }
    CHECK(users == std::set<std::string>{"alice", "bob"});
    CHECK(clients.count(sha256Prefix(session)) == 1);
    CHECK(members.body.contains("position"));

    Answer none = call(server, "presence", R"({"channel":"lobby"})");
    CHECK(none.status == 404);
    CHECK(none.code() == "not_found");
    CHECK(call(server, "presence_stats", "{}").code() == "bad_request");
    CHECK(call(server, "presence", R"({"channel":"room:1","x":1})").code() == "bad_request");
}

}  // namespace server_api_test
