// Presence and join/leave against the real server (memory broker), on every transport:
// client ids from session=, join and leave entries in the channel's stream (WebSocket
// frames, SSE named events with id:, poll and long-poll messages), resuming over them with
// Last-Event-ID, presence and stats over HTTP and WebSocket, rights, grace, the member
// limit and the metrics. docs/protocol.md, Presence.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "server_process.hpp"
#include "support/token_minter.hpp"

using namespace pushwire::test;
using namespace pushwire::testing;
using nlohmann::json;

namespace presence_test {

namespace {

const std::string kSessionA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const std::string kSessionB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const std::string kSessionC = "cccccccccccccccccccccccccccccccc";

std::vector<std::string> presenceArgs(std::vector<std::string> more = {}) {
    std::vector<std::string> args = {"--presence", "room:*,quiet:*",      "--join-leave",
                                     "room:*",     "--presence-grace-ms", "300"};
    args.insert(args.end(), more.begin(), more.end());
    return args;
}

json get(const ServerProcess& server, const std::string& target, int expectStatus = 200) {
    auto client = server.client();
    auto response = client.Get(target.c_str());
    REQUIRE(response);
    INFO(target << " -> " << response->body);
    REQUIRE(response->status == expectStatus);
    return json::parse(response->body);
}

json presenceOf(const ServerProcess& server, const std::string& channel) {
    return get(server, "/pushwire/presence?channel=" + channel);
}

std::set<std::string> clientsIn(const json& presence) {
    std::set<std::string> out;
    for (const auto& member : presence["members"]) out.insert(member["client"].get<std::string>());
    return out;
}

bool isEntry(const std::string& frame, const std::string& type, const std::string& client) {
    auto f = json::parse(frame, nullptr, false);
    return !f.is_discarded() && f.value("type", "") == type && f.contains("member") &&
           f["member"].value("client", "") == client;
}

// Waits until the channel's presence holds exactly `clients`.
bool presenceBecomes(const ServerProcess& server, const std::string& channel, const std::set<std::string>& clients) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
        if (clientsIn(presenceOf(server, channel)) == clients) return true;
        std::this_thread::sleep_for(20ms);
    }
    return false;
}

}  // namespace

TEST_CASE("presence: the client id comes from session= on every transport, random without it", "[presence]") {
    ServerProcess server(presenceArgs());
    // printf '%s' aaaa... | sha256sum | cut -c1-32
    const std::string expected = "3ba3f5f43b92602683c19aee62a20342";
    WsClient ws(server.wsUrl("?session=" + kSessionA));
    std::string welcome = ws.waitFor([](const std::string& f) { return f.find("\"welcome\"") != std::string::npos; });
    const std::string wsClient = json::parse(welcome)["client"];
    CHECK(wsClient == expected);
    SseClient sse(server.httpPort(), "/pushwire/sse?channel=quiet:1&session=" + kSessionA);
    auto welcomes = sse.waitFor(1, "welcome");
    REQUIRE(!welcomes.empty());
    CHECK(json::parse(welcomes[0].data)["client"] == wsClient);  // the same session: the same id
    CHECK(get(server, "/pushwire/poll?channel=quiet:1&session=" + kSessionA)["client"] == wsClient);
    CHECK(get(server, "/pushwire/longpoll?channel=quiet:1&timeout_ms=0&session=" + kSessionA)["client"] == wsClient);
    const std::string other = get(server, "/pushwire/poll?channel=quiet:1&session=" + kSessionB)["client"];
    CHECK(other != wsClient);
    const std::string random1 = get(server, "/pushwire/poll?channel=quiet:1")["client"];
    const std::string random2 = get(server, "/pushwire/poll?channel=quiet:1")["client"];
    CHECK(random1.size() == 32);
    CHECK(random1 != random2);
    // A malformed session is a 400 on every transport.
    auto bad = get(server, "/pushwire/poll?channel=quiet:1&session=short", 400);
    CHECK(bad["error"]["code"] == "bad_request");
    SseClient badSse(server.httpPort(), "/pushwire/sse?channel=quiet:1&session=no!");
    CHECK(badSse.status() == 400);
    WsClient badWs(server.wsUrl("?session=short"));
    CHECK(badWs.failStatus() == 400);
}

TEST_CASE("presence: joins and leaves reach subscribers on all four transports, in order with the messages",
          "[presence]") {
    ServerProcess server(presenceArgs());
    // A WebSocket member: it sees its own join first.
    WsClient ws(server.wsUrl("?session=" + kSessionA));
    const std::string a = json::parse(
        ws.waitFor([](const std::string& f) { return f.find("\"welcome\"") != std::string::npos; }))["client"];
    ws.send(R"({"type":"subscribe","channel":"room:1","id":1})");
    REQUIRE(!ws.waitFor([](const std::string& f) { return f.find("\"subscribed\"") != std::string::npos; }).empty());
    REQUIRE(!ws.waitFor([&](const std::string& f) { return isEntry(f, "join", a); }).empty());
    publish(server, "room:1", R"({"text":"hi"})");  // seq 2

    // An SSE member from the start of the stream: named events with id:.
    auto sse =
        std::make_unique<SseClient>(server.httpPort(), "/pushwire/sse?channel=room:1&since=0&session=" + kSessionB);
    std::vector<SseEvent> joins = sse->waitFor(2, "join");
    REQUIRE(joins.size() == 2);
    const std::string b = json::parse(joins[1].data)["member"]["client"];
    CHECK(json::parse(joins[0].data)["member"]["client"] == a);
    CHECK(json::parse(joins[0].data)["seq"] == 1);
    CHECK(json::parse(joins[1].data)["seq"] == 3);
    CHECK(joins[1].id.find("room:1@3") != std::string::npos);
    CHECK(sse->waitFor(1, "").size() == 1);  // the message, unnamed, between them
    std::string bJoin = ws.waitFor([&](const std::string& f) { return isEntry(f, "join", b); });
    REQUIRE(!bJoin.empty());
    CHECK(json::parse(bJoin)["seq"] == 3);

    // A poller with a session is a member while it polls.
    json polled = get(server, "/pushwire/poll?channel=room:1&since=0&session=" + kSessionC);
    const std::string c = polled["client"];
    REQUIRE(polled["messages"].size() == 3);
    CHECK(polled["messages"][0]["event"] == "join");
    CHECK(polled["messages"][1]["data"]["text"] == "hi");
    CHECK_FALSE(polled["messages"][1].contains("event"));
    REQUIRE(!ws.waitFor([&](const std::string& f) { return isEntry(f, "join", c); }).empty());
    CHECK(clientsIn(presenceOf(server, "room:1")) == std::set<std::string>{a, b, c});

    // A long-poll held for the next entry gets the leave of the SSE member, after the grace.
    const std::string cursor = get(server, "/pushwire/poll?channel=room:1&since=0")["cursor"];
    sse.reset();
    json held = get(server, "/pushwire/longpoll?channel=room:1&timeout_ms=20000&since=" + cursor);
    REQUIRE(held["messages"].size() == 1);
    CHECK(held["messages"][0]["event"] == "leave");
    CHECK(held["messages"][0]["member"]["client"] == b);
    std::string bLeave = ws.waitFor([&](const std::string& f) { return isEntry(f, "leave", b); }, 10000ms);
    REQUIRE(!bLeave.empty());
    CHECK(clientsIn(presenceOf(server, "room:1")) == std::set<std::string>{a, c});

    // Unsubscribing leaves at once: the others see it, history holds it.
    WsClient other(server.wsUrl("?session=" + kSessionB));
    other.send(R"({"type":"subscribe","channel":"room:1"})");
    REQUIRE(!ws.waitFor([&](const std::string& f) { return isEntry(f, "join", b); }).empty());
    other.send(R"({"type":"unsubscribe","channel":"room:1"})");
    REQUIRE(!ws.waitFor([&](const std::string& f) { return isEntry(f, "leave", b); }).empty());

    CHECK(server.waitMetric("pushwire_join_leave_sent_total{event=\"join\"}", [](double v) { return v >= 6; }) >= 6);
    CHECK(server.waitMetric("pushwire_join_leave_sent_total{event=\"leave\"}", [](double v) { return v >= 3; }) >= 3);
    CHECK(server.waitMetric("pushwire_presence_members", [](double v) { return v == 2; }) == 2);  // a and c
}

TEST_CASE("presence: an SSE reader resumes with Last-Event-ID over join and leave entries, none missed or repeated",
          "[presence]") {
    ServerProcess server(presenceArgs());
    // The reader is a member too (a connection without session: a random id): its own
    // join comes first.
    auto first = std::make_unique<SseClient>(server.httpPort(), "/pushwire/sse?channel=room:2&since=0");
    auto member = std::make_unique<WsClient>(server.wsUrl("?session=" + kSessionA + "&channel=room:2"));
    const std::string a = json::parse(
        member->waitFor([](const std::string& f) { return f.find("\"welcome\"") != std::string::npos; }))["client"];
    std::string lastId;
    for (const SseEvent& e : first->waitFor(2, "join")) {
        if (json::parse(e.data)["member"]["client"] == a) lastId = e.id;
    }
    REQUIRE(!lastId.empty());
    first.reset();  // the reader goes away after the member's join
    publish(server, "room:2", "\"after\"");
    member.reset();  // its leave comes after the grace
    REQUIRE(presenceBecomes(server, "room:2", {}));
    publish(server, "room:2", "\"last\"");
    // What the stream holds after the reader's last event (a poll without session is no member).
    json expected = get(server, "/pushwire/poll?channel=room:2&since=" + lastId)["messages"];
    REQUIRE(expected.size() == 4);  // the message, the two leaves (reader, member), the message
    // What an EventSource sends back when it reconnects: it resumes exactly there.
    SseClient again(server.httpPort(), "/pushwire/sse?channel=room:2", "Last-Event-ID: " + lastId + "\r\n");
    std::vector<json> resumed;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (resumed.size() < expected.size() && std::chrono::steady_clock::now() < deadline) {
        resumed.clear();
        for (const SseEvent& e : again.waitFor(expected.size() + 2, "*", 500ms)) {
            if (e.event == "welcome" || e.event == "ping") continue;
            CHECK(e.event == (json::parse(e.data).contains("event") ? json::parse(e.data)["event"].get<std::string>()
                                                                    : std::string()));
            resumed.push_back(json::parse(e.data));
        }
    }
    REQUIRE(resumed.size() >= expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) CHECK(resumed[i] == expected[i]);
    CHECK(expected[0]["data"] == "after");
    CHECK(expected[3]["data"] == "last");
    CHECK((expected[1]["member"]["client"] == a || expected[2]["member"]["client"] == a));
    CHECK(expected[1]["event"] == "leave");
    CHECK(expected[2]["event"] == "leave");
}

TEST_CASE("presence: a WebSocket back with its session within the grace stays a member: no leave, no join",
          "[presence]") {
    ServerProcess server(presenceArgs({"--presence-grace-ms", "3000"}));
    WsClient watcher(server.wsUrl("?channel=room:3"));  // a member itself, with a random id
    const std::string w = json::parse(
        watcher.waitFor([](const std::string& f) { return f.find("\"welcome\"") != std::string::npos; }))["client"];
    std::string a;
    std::uint64_t joinSeq = 0;
    {
        WsClient member(server.wsUrl("?session=" + kSessionA + "&channel=room:3"));
        a = json::parse(
            member.waitFor([](const std::string& f) { return f.find("\"welcome\"") != std::string::npos; }))["client"];
        std::string join = watcher.waitFor([&](const std::string& f) { return isEntry(f, "join", a); });
        REQUIRE(!join.empty());
        joinSeq = json::parse(join)["seq"];
    }
    WsClient back(server.wsUrl("?session=" + kSessionA + "&channel=room:3"));
    REQUIRE(!back.waitFor([](const std::string& f) { return f.find("\"subscribed\"") != std::string::npos; }).empty());
    // A message after the grace would have ended: the watcher gets it and no leave or join before it.
    std::this_thread::sleep_for(3500ms);
    publish(server, "room:3", R"("marker")");
    std::string marker = watcher.waitFor([](const std::string& f) { return f.find("marker") != std::string::npos; });
    REQUIRE(!marker.empty());
    for (const std::string& f : watcher.frames()) {
        CHECK_FALSE(isEntry(f, "leave", a));
    }
    CHECK(json::parse(marker)["seq"] == joinSeq + 1);  // nothing between the join and it
    CHECK(clientsIn(presenceOf(server, "room:3")) == std::set<std::string>{w, a});
}

TEST_CASE("presence: WebSocket presence and presence_stats frames, and a channel without presence", "[presence]") {
    ServerProcess server(presenceArgs());
    get(server, "/pushwire/poll?channel=quiet:9&session=" + kSessionB);
    get(server, "/pushwire/poll?channel=quiet:9&session=" + kSessionC);
    WsClient ws(server.wsUrl("?session=" + kSessionA + "&channel=quiet:9"));
    REQUIRE(!ws.waitFor([](const std::string& f) { return f.find("\"subscribed\"") != std::string::npos; }).empty());
    json snapshot;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    do {  // the member is added on the loop's next turn
        ws.send(R"({"type":"presence","channel":"quiet:9","id":7})");
        snapshot =
            json::parse(ws.waitFor([](const std::string& f) { return f.find("\"presence\"") != std::string::npos; }));
    } while (snapshot["members"].size() < 3 && std::chrono::steady_clock::now() < deadline);
    CHECK(snapshot["id"] == 7);
    CHECK(snapshot["channel"] == "quiet:9");
    CHECK(snapshot["members"].size() == 3);
    CHECK(snapshot["position"].get<std::string>().find("quiet:9@0") !=
          std::string::npos);  // no join/leave entries here
    ws.send(R"({"type":"presence_stats","channel":"quiet:9","id":"s"})");
    json stats =
        json::parse(ws.waitFor([](const std::string& f) { return f.find("presence_stats") != std::string::npos; }));
    CHECK(stats["clients"] == 3);
    CHECK(stats["users"] == 0);
    CHECK(stats["id"] == "s");
    ws.send(R"({"type":"presence","channel":"plain","id":8})");
    json refused =
        json::parse(ws.waitFor([](const std::string& f) { return f.find("\"error\"") != std::string::npos; }));
    CHECK(refused["error"]["code"] == "not_found");
    CHECK(refused["id"] == 8);
    CHECK(refused["channel"] == "plain");
    ws.send(R"({"type":"presence","id":9})");
    json missing =
        json::parse(ws.waitFor([](const std::string& f) { return f.find("\"error\"") != std::string::npos; }));
    CHECK(missing["error"]["code"] == "missing_field");
    CHECK(get(server, "/pushwire/presence?channel=plain", 404)["error"]["code"] == "not_found");
    CHECK(get(server, "/pushwire/presence", 400)["error"]["code"] == "missing_field");
    CHECK(get(server, "/pushwire/presence?channel=a%20b", 400)["error"]["code"] == "bad_channel");
    CHECK(get(server, "/pushwire/presence?channel=quiet:9&stats=2", 400)["error"]["code"] == "bad_request");
    json httpStats = get(server, "/pushwire/presence?channel=quiet:9&stats=1");
    CHECK(httpStats["clients"] == 3);
    CHECK_FALSE(httpStats.contains("members"));
}

TEST_CASE("presence: --max-presence-members caps a channel's members, a subscriber past it is served but not listed",
          "[presence]") {
    ServerProcess server(presenceArgs({"--max-presence-members", "3"}));
    for (int i = 0; i < 5; ++i) {
        // Each poll is answered (subscribed) whether or not it becomes a member.
        get(server, "/pushwire/poll?channel=quiet:big&session=" + std::string(31, 'x') + std::to_string(i));
    }
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    json stats;
    while (std::chrono::steady_clock::now() < deadline) {
        stats = get(server, "/pushwire/presence?channel=quiet:big&stats=1");
        if (stats["clients"] == 3 && server.metric("pushwire_presence_over_cap_total").value_or(0) == 2) break;
        std::this_thread::sleep_for(20ms);
    }
    CHECK(server.metric("pushwire_presence_over_cap_total").value_or(0) == 2);
    CHECK(server.metric("pushwire_presence_members").value_or(0) == 3);
    CHECK(stats["clients"] == 3);
    json list = presenceOf(server, "quiet:big");
    CHECK(list["members"].size() == 3);
    CHECK_FALSE(list.value("truncated", false));
    // Another channel has its own cap.
    const std::string fifth =
        get(server, "/pushwire/poll?channel=quiet:other&session=" + std::string(31, 'x') + "4")["client"];
    CHECK(presenceBecomes(server, "quiet:other", {fifth}));
}

namespace {

const std::string kSecret = "presence-secret-0123456789abcdef0123";

struct SecretFile {
    SecretFile() {
        char pattern[] = "/tmp/pushwire-presence-XXXXXX";
        dir = mkdtemp(pattern);
        std::ofstream(dir + "/secret") << kSecret;
    }
    ~SecretFile() { std::filesystem::remove_all(dir); }
    std::string path() const { return dir + "/secret"; }
    std::string dir;
};

}  // namespace

TEST_CASE("presence: a member is the token's sub and info, and reading presence needs the right to subscribe",
          "[presence]") {
    SecretFile secret;
    ServerProcess server(
        {"--token-secret-file", secret.path(), "--presence", "chat:*,user:*", "--join-leave", "chat:*"});
    json claims = aliceClaims(unixNow() + 600);
    claims["info"] = {{"name", "Alice"}, {"color", "red"}};
    const std::string alice = mintHs256(kSecret, claims);
    WsClient ws(server.wsUrl("?token=" + alice + "&session=" + kSessionA + "&channel=chat:room"));
    std::string join = ws.waitFor([](const std::string& f) { return f.find("\"join\"") != std::string::npos; });
    REQUIRE(!join.empty());
    CHECK(json::parse(join)["member"]["user"] == "alice");
    CHECK(json::parse(join)["member"]["info"] == json({{"name", "Alice"}, {"color", "red"}}));
    auto client = server.client();
    auto withToken = client.Get("/pushwire/presence?channel=chat:room&stats=1", {{"Authorization", "Bearer " + alice}});
    REQUIRE(withToken);
    CHECK(withToken->status == 200);
    CHECK(json::parse(withToken->body)["users"] == 1);
    CHECK(get(server, "/pushwire/presence?channel=chat:room", 401)["error"]["code"] == "unauthorized");
    auto outside = client.Get("/pushwire/presence?channel=user:bob", {{"Authorization", "Bearer " + alice}});
    REQUIRE(outside);
    CHECK(outside->status == 403);
    ws.send(R"({"type":"presence","channel":"user:bob","id":1})");
    json refused =
        json::parse(ws.waitFor([](const std::string& f) { return f.find("\"error\"") != std::string::npos; }));
    CHECK(refused["error"]["code"] == "forbidden");
    // An info claim over 1 KiB: the token is refused, naming info.
    json big = aliceClaims(unixNow() + 600);
    big["info"] = std::string(1100, 'x');
    auto refusedToken =
        client.Get("/pushwire/poll?channel=chat:room", {{"Authorization", "Bearer " + mintHs256(kSecret, big)}});
    REQUIRE(refusedToken);
    CHECK(refusedToken->status == 401);
    CHECK(refusedToken->body.find("info") != std::string::npos);
}

}  // namespace presence_test
