// The four endpoints against the real server: publish, then read through each; resume
// after a position; gaps when history is overrun or the epoch differs.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>

#include "server_process.hpp"

using namespace pushwire::test;
using nlohmann::json;

namespace endpoints_test {

namespace {

json getJson(const ServerProcess& server, const std::string& target, int expectStatus = 200) {
    auto c = server.client();
    auto res = c.Get(target.c_str());
    REQUIRE(res);
    INFO(target << " -> " << res->body);
    REQUIRE(res->status == expectStatus);
    CHECK(res->get_header_value("Content-Type").find("application/json") == 0);
    return json::parse(res->body);
}

const std::string kLongPolls = "pushwire_longpolls_waiting";

std::vector<std::uint64_t> seqs(const json& batch) {
    std::vector<std::uint64_t> out;
    for (const auto& m : batch["messages"]) out.push_back(m["seq"].get<std::uint64_t>());
    return out;
}

}  // namespace

TEST_CASE("negotiate announces protocol, transports, websocket url, heartbeat and epoch") {
    ServerProcess server({"--heartbeat-ms", "5000"});
    json n = getJson(server, "/pushwire/negotiate");
    CHECK(n["protocol"] == 1);
    CHECK(n["transports"] == json::array({"websocket", "sse", "longpoll", "poll"}));
    CHECK(n["websocket_url"] == "ws://127.0.0.1:" + std::to_string(server.wsPort()) + "/pushwire/ws");
    CHECK(n["heartbeat_ms"] == 5000);
    CHECK(n["epoch"].get<std::string>().size() == 16);
}

TEST_CASE("one port: WebSocket on the HTTP port, announced with the host the client used") {
    ServerProcess server;
    CHECK(server.wsPort() == server.httpPort());
    json n = getJson(server, "/pushwire/negotiate");
    const std::string url = n["websocket_url"];
    CHECK(url == "ws://127.0.0.1:" + std::to_string(server.httpPort()) + "/pushwire/ws");
    WsClient ws(url + "?channel=one");
    REQUIRE(ws.connected());
    publish(server, "one", "1");
    CHECK_FALSE(ws.waitFor([](const std::string& f) {
                      return f.find(R"("type":"message")") != std::string::npos &&
                             f.find(R"("seq":1)") != std::string::npos;
                  }).empty());

    // A Host header that is not a plain host:port (a quote would break negotiate's JSON)
    // is not echoed.
    auto c = server.client();
    auto res = c.Get("/pushwire/negotiate", {{"Host", "evil\"host"}});
    REQUIRE(res);
    REQUIRE(res->status == 200);
    CHECK(json::parse(res->body)["websocket_url"] ==
          "ws://127.0.0.1:" + std::to_string(server.httpPort()) + "/pushwire/ws");
}

TEST_CASE("behind a trusted proxy negotiate follows Forwarded and X-Forwarded-*, from others it does not") {
    ServerProcess trusting({"--trust-proxy", "127.0.0.1"});
    auto c = trusting.client();
    auto res = c.Get("/pushwire/negotiate", {{"X-Forwarded-Proto", "https"}, {"X-Forwarded-Host", "push.example.com"}});
    REQUIRE(res);
    CHECK(json::parse(res->body)["websocket_url"] == "wss://push.example.com/pushwire/ws");
    res = c.Get("/pushwire/negotiate", {{"Forwarded", "for=192.0.2.1;proto=https;host=\"a.example:8443\""}});
    REQUIRE(res);
    CHECK(json::parse(res->body)["websocket_url"] == "wss://a.example:8443/pushwire/ws");

    ServerProcess other({"--trust-proxy", "192.0.2.9"});
    auto d = other.client();
    res = d.Get("/pushwire/negotiate", {{"X-Forwarded-Proto", "https"}, {"X-Forwarded-Host", "push.example.com"}});
    REQUIRE(res);
    CHECK(json::parse(res->body)["websocket_url"] ==
          "ws://127.0.0.1:" + std::to_string(other.httpPort()) + "/pushwire/ws");
}

TEST_CASE("a second WebSocket port is announced when asked for") {
    ServerProcess server({"--ws-port", "0"});
    CHECK(server.wsPort() != server.httpPort());
    json n = getJson(server, "/pushwire/negotiate");
    CHECK(n["websocket_url"] == "ws://127.0.0.1:" + std::to_string(server.wsPort()) + "/pushwire/ws");
    WsClient ws(n["websocket_url"].get<std::string>() + "?channel=two");
    CHECK(ws.connected());
}

TEST_CASE("the transports and public-ws-url flags shape what negotiate offers") {
    ServerProcess server({"--transports", "sse,poll", "--public-ws-url", "wss://push.example/ws"});
    json n = getJson(server, "/pushwire/negotiate");
    CHECK(n["transports"] == json::array({"sse", "poll"}));
    CHECK(n["websocket_url"].is_null());  // WebSocket off: no URL announced, whatever the flag
    ServerProcess withWs({"--public-ws-url", "wss://push.example/ws"});
    CHECK(getJson(withWs, "/pushwire/negotiate")["websocket_url"] == "wss://push.example/ws");
    json off = getJson(server, "/pushwire/longpoll?channel=a", 404);
    CHECK(off["error"]["code"] == "transport_disabled");
    WsClient ws(server.wsUrl());
    CHECK_FALSE(ws.connected());
    CHECK(ws.failStatus() == 404);
}

TEST_CASE("publish assigns consecutive seqs per channel") {
    ServerProcess server;
    CHECK(publish(server, "a", "1") == 1);
    CHECK(publish(server, "a", R"({"x":"y"})") == 2);
    CHECK(publish(server, "b", "null") == 1);
    auto c = server.client();
    auto res = c.Post("/pushwire/publish", R"({"channel":"a","data":[1]})", "application/x-www-form-urlencoded");
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(json::parse(res->body)["seq"] == 3);
    CHECK(json::parse(res->body)["channel"] == "a");
}

TEST_CASE("poll answers at once with what follows the position, and a cursor to continue") {
    ServerProcess server;
    SECTION("without since it starts at now") {
        publish(server, "p", "1");
        json first = getJson(server, "/pushwire/poll?channel=p");
        CHECK(first["messages"].empty());
        publish(server, "p", "2");
        json next = getJson(server, "/pushwire/poll?channel=p&since=" + first["cursor"].get<std::string>());
        CHECK(seqs(next) == std::vector<std::uint64_t>{2});
    }
    SECTION("since=0 returns the held history, then the cursor continues exactly") {
        for (int i = 0; i < 3; ++i) publish(server, "p", std::to_string(i));
        json all = getJson(server, "/pushwire/poll?channel=p&since=0");
        CHECK(seqs(all) == std::vector<std::uint64_t>{1, 2, 3});
        CHECK(all["messages"][0]["data"] == 0);
        CHECK(all["messages"][0]["channel"] == "p");
        CHECK(all["messages"][0]["time"].is_number());
        std::string cursor = all["cursor"];
        CHECK(getJson(server, "/pushwire/poll?channel=p&since=" + cursor)["messages"].empty());
        publish(server, "p", "9");
        CHECK(seqs(getJson(server, "/pushwire/poll?channel=p&since=" + cursor)) == std::vector<std::uint64_t>{4});
    }
    SECTION("several channels in one request, by channel= and channels=") {
        publish(server, "x", "1");
        publish(server, "y", "1");
        publish(server, "y", "2");
        json both = getJson(server, "/pushwire/poll?channel=x&channels=y&since=0");
        CHECK(both["messages"].size() == 3);
        json again = getJson(server, "/pushwire/poll?channels=x,y&since=" + both["cursor"].get<std::string>());
        CHECK(again["messages"].empty());
        json fromY = getJson(server, "/pushwire/poll?channels=x,y&since=x@1,y@1");
        CHECK(seqs(fromY) == std::vector<std::uint64_t>{2});
    }
}

TEST_CASE("long-poll returns as soon as a message is published") {
    ServerProcess server;
    publish(server, "lp", "0");
    auto pending = std::async(
        std::launch::async, [&] { return getJson(server, "/pushwire/longpoll?channel=lp&since=1&timeout_ms=20000"); });
    REQUIRE(server.waitMetric(kLongPolls, [](double n) { return n == 1; }) == 1);  // parked
    CHECK(pending.wait_for(std::chrono::milliseconds(0)) == std::future_status::timeout);
    publish(server, "lp", R"({"n":1})");
    REQUIRE(pending.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    json answer = pending.get();
    CHECK(seqs(answer) == std::vector<std::uint64_t>{2});
    CHECK(answer["cursor"].get<std::string>().find("lp@2") != std::string::npos);
}

TEST_CASE("long-poll answers empty after its timeout, and at once when behind") {
    ServerProcess server;
    publish(server, "lp", "0");
    json empty = getJson(server, "/pushwire/longpoll?channel=lp&timeout_ms=200");
    CHECK(empty["messages"].empty());
    CHECK(empty["cursor"].get<std::string>().find("lp@1") != std::string::npos);
    json behind = getJson(server, "/pushwire/longpoll?channel=lp&since=0&timeout_ms=20000");
    CHECK(seqs(behind) == std::vector<std::uint64_t>{1});
}

TEST_CASE("long-poll on several channels wakes for any of them") {
    ServerProcess server;
    auto pending = std::async(std::launch::async,
                              [&] { return getJson(server, "/pushwire/longpoll?channels=a,b&timeout_ms=20000"); });
    REQUIRE(server.waitMetric(kLongPolls, [](double n) { return n == 1; }) == 1);  // parked
    publish(server, "b", "1");
    REQUIRE(pending.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    json answer = pending.get();
    REQUIRE(answer["messages"].size() == 1);
    CHECK(answer["messages"][0]["channel"] == "b");
}

TEST_CASE("SSE streams id: and data: events, live and from a position") {
    ServerProcess server;
    publish(server, "s", R"({"n":1})");
    publish(server, "s", R"({"n":2})");
    SseClient sse(server.httpPort(), "/pushwire/sse?channel=s&since=0");
    CHECK(sse.status() == 200);
    CHECK(sse.head().find("text/event-stream") != std::string::npos);
    auto open = sse.waitFor(1, "welcome");
    REQUIRE(open.size() == 1);
    auto events = sse.waitFor(2);
    REQUIRE(events.size() == 2);
    CHECK(json::parse(events[0].data)["seq"] == 1);
    CHECK(json::parse(events[1].data)["data"]["n"] == 2);
    CHECK(events[1].id.find("~s@2") != std::string::npos);
    publish(server, "s", R"("live")");
    events = sse.waitFor(3);
    REQUIRE(events.size() == 3);
    CHECK(json::parse(events[2].data)["data"] == "live");
}

TEST_CASE("SSE resumes right after Last-Event-ID, from the header or the query") {
    ServerProcess server;
    for (int i = 1; i <= 4; ++i) publish(server, "r", std::to_string(i));
    std::string id;
    {
        SseClient first(server.httpPort(), "/pushwire/sse?channel=r&since=0");
        auto events = first.waitFor(4);
        REQUIRE(events.size() == 4);
        id = events[1].id;  // after seq 2
    }
    SECTION("header") {
        SseClient again(server.httpPort(), "/pushwire/sse?channel=r&since=0", "Last-Event-ID: " + id + "\r\n");
        auto events = again.waitFor(2);
        REQUIRE(events.size() >= 2);
        CHECK(json::parse(events[0].data)["seq"] == 3);
        CHECK(json::parse(events[1].data)["seq"] == 4);
    }
    SECTION("query parameter") {
        SseClient again(server.httpPort(), "/pushwire/sse?channel=r&last_event_id=" + id);
        auto events = again.waitFor(2);
        REQUIRE(events.size() >= 2);
        CHECK(json::parse(events[0].data)["seq"] == 3);
    }
}

TEST_CASE("SSE on several channels resumes every one of them from one id") {
    ServerProcess server;
    publish(server, "m1", "1");
    publish(server, "m2", "1");
    std::string id;
    {
        SseClient sse(server.httpPort(), "/pushwire/sse?channels=m1,m2&since=0");
        auto events = sse.waitFor(2);
        REQUIRE(events.size() == 2);
        id = events[1].id;
        CHECK(id.find("m1@1") != std::string::npos);
        CHECK(id.find("m2@1") != std::string::npos);
    }
    publish(server, "m2", "2");
    publish(server, "m1", "2");
    SseClient again(server.httpPort(), "/pushwire/sse?channels=m1,m2", "Last-Event-ID: " + id + "\r\n");
    auto events = again.waitFor(2);
    REQUIRE(events.size() == 2);
    for (const auto& e : events) CHECK(json::parse(e.data)["seq"] == 2);
}

TEST_CASE("a resume older than the history gets an explicit gap on every endpoint") {
    ServerProcess server({"--history", "3"});
    for (int i = 1; i <= 10; ++i) publish(server, "g", std::to_string(i));
    SECTION("poll") {
        json batch = getJson(server, "/pushwire/poll?channel=g&since=2");
        REQUIRE(batch["gaps"].size() == 1);
        CHECK(batch["gaps"][0]["from"] == 3);
        CHECK(batch["gaps"][0]["to"] == 7);
        CHECK(batch["gaps"][0]["reason"] == "evicted");
        CHECK(seqs(batch) == std::vector<std::uint64_t>{8, 9, 10});
    }
    SECTION("long-poll") {
        json batch = getJson(server, "/pushwire/longpoll?channel=g&since=2");
        REQUIRE(batch["gaps"].size() == 1);
        CHECK(batch["gaps"][0]["to"] == 7);
    }
    SECTION("sse") {
        SseClient sse(server.httpPort(), "/pushwire/sse?channel=g&since=2");
        auto gaps = sse.waitFor(1, "gap");
        REQUIRE(gaps.size() == 1);
        CHECK(json::parse(gaps[0].data)["from"] == 3);
        CHECK(json::parse(gaps[0].data)["to"] == 7);
        CHECK(sse.waitFor(3).size() == 3);
    }
    SECTION("websocket") {
        WsClient ws(server.wsUrl("?channel=g&since=2"));
        std::string gap = ws.waitFor([](const std::string& f) { return field(f, "type") == "gap"; });
        REQUIRE_FALSE(gap.empty());
        CHECK(field(gap, "from") == "3");
        CHECK(field(gap, "to") == "7");
    }
}

TEST_CASE("a cursor from another server life reports an unknown-range gap, then this life's messages") {
    ServerProcess server;
    publish(server, "e", "1");
    json batch = getJson(server, "/pushwire/poll?channel=e&since=0123abcd~e@40");
    REQUIRE(batch["gaps"].size() == 1);
    CHECK(batch["gaps"][0]["from"] == 41);
    CHECK(batch["gaps"][0]["to"].is_null());
    CHECK(batch["gaps"][0]["reason"] == "epoch_changed");
    CHECK(seqs(batch) == std::vector<std::uint64_t>{1});
}

TEST_CASE("healthz, metrics and static files with the right content types") {
    char dir[] = "/tmp/pushwire-web-XXXXXX";
    REQUIRE(mkdtemp(dir));
    std::ofstream(std::string(dir) + "/index.html") << "<h1>hi</h1>";
    std::ofstream(std::string(dir) + "/m.wasm") << "\0asm";
    ServerProcess server({"--web-root", dir});
    auto c = server.client();
    CHECK(getJson(server, "/pushwire/healthz")["status"] == "ok");
    publish(server, "m", "1");
    auto metrics = c.Get("/pushwire/metrics");
    REQUIRE(metrics);
    CHECK(metrics->body.find("pushwire_messages_published_total 1") != std::string::npos);
    CHECK(metrics->body.find("pushwire_connections{transport=\"sse\"}") != std::string::npos);
    CHECK(metrics->body.find("pushwire_deliveries_total{transport=\"websocket\"}") != std::string::npos);
    const bool uring = metrics->body.find("pushwire_write_path{path=\"io_uring\"} 1") != std::string::npos;
    const bool sendmsg = metrics->body.find("pushwire_write_path{path=\"sendmsg\"} 1") != std::string::npos;
    CHECK(uring != sendmsg);
    const char* extra = std::getenv("PUSHWIRE_SERVER_EXTRA_ARGS");
    if (extra && std::string(extra).find("--io-uring=off") != std::string::npos) CHECK(sendmsg);
    auto index = c.Get("/");
    REQUIRE(index);
    CHECK(index->status == 200);
    CHECK(index->body == "<h1>hi</h1>");
    CHECK(index->get_header_value("Content-Type").find("text/html") == 0);
    auto wasm = c.Get("/m.wasm");
    REQUIRE(wasm);
    CHECK(wasm->get_header_value("Content-Type") == "application/wasm");
    auto escape = c.Get("/../../etc/passwd");
    REQUIRE(escape);
    CHECK(escape->status == 404);
    auto missing = c.Get("/nope.js");
    REQUIRE(missing);
    CHECK(missing->status == 404);
    CHECK(json::parse(missing->body)["error"]["code"] == "not_found");
}

TEST_CASE("static files carry an ETag (304 when it matches), no-cache, and their gzip copy to who takes it") {
    char dir[] = "/tmp/pushwire-web-XXXXXX";
    REQUIRE(mkdtemp(dir));
    const std::string root = dir;
    std::ofstream(root + "/app.js") << "console.log('plain');";
    std::ofstream(root + "/app.js.gz") << "GZIP-BYTES";  // the server trusts the name, not the content
    std::ofstream(root + "/old.js") << "console.log('new');";
    std::ofstream(root + "/old.js.gz") << "STALE";
    timespec times[2] = {{1000, 0}, {1000, 0}};  // the .gz is older than its file: not used
    REQUIRE(utimensat(AT_FDCWD, (root + "/old.js.gz").c_str(), times, 0) == 0);
    ServerProcess server({"--web-root", root});
    auto c = server.client();

    auto plain = c.Get("/app.js");
    REQUIRE(plain);
    CHECK(plain->status == 200);
    CHECK(plain->body == "console.log('plain');");
    CHECK_FALSE(plain->has_header("Content-Encoding"));
    CHECK(plain->get_header_value("Cache-Control") == "no-cache");
    CHECK(plain->get_header_value("Vary") == "Accept-Encoding");
    const std::string tag = plain->get_header_value("ETag");
    REQUIRE(tag.size() > 2);

    c.set_decompress(false);  // the bytes as sent
    auto gzipped = c.Get("/app.js", {{"Accept-Encoding", "br, gzip;q=0.8"}});
    REQUIRE(gzipped);
    CHECK(gzipped->body == "GZIP-BYTES");
    CHECK(gzipped->get_header_value("Content-Encoding") == "gzip");
    CHECK(gzipped->get_header_value("Content-Type").find("text/javascript") == 0);
    CHECK(gzipped->get_header_value("ETag") != tag);
    auto refused = c.Get("/app.js", {{"Accept-Encoding", "gzip;q=0"}});
    REQUIRE(refused);
    CHECK(refused->body == "console.log('plain');");
    auto stale = c.Get("/old.js", {{"Accept-Encoding", "gzip"}});
    REQUIRE(stale);
    CHECK(stale->body == "console.log('new');");

    auto again = c.Get("/app.js", {{"If-None-Match", tag}});
    REQUIRE(again);
    CHECK(again->status == 304);
    CHECK(again->body.empty());
    CHECK(again->get_header_value("ETag") == tag);
    auto other = c.Get("/app.js", {{"If-None-Match", "\"something-else\""}});
    REQUIRE(other);
    CHECK(other->status == 200);
    // API answers stay uncached.
    auto health = c.Get("/pushwire/healthz");
    REQUIRE(health);
    CHECK(health->get_header_value("Cache-Control") == "no-store");
}

TEST_CASE("a --web-root that does not exist is an error at start") {
    const std::string command = std::string(serverBinary()) + " --port 0 --web-root /nonexistent/pushwire 2>&1";
    FILE* out = popen(command.c_str(), "r");
    REQUIRE(out);
    std::string text;
    char buffer[256];
    while (std::fgets(buffer, sizeof buffer, out)) text += buffer;
    const int status = pclose(out);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) != 0);
    CHECK(text.find("--web-root /nonexistent/pushwire: no such directory") != std::string::npos);
}

TEST_CASE("metrics: a publish-to-write histogram over messages with subscribers, and the process") {
    ServerProcess server;
    SseClient reader(server.httpPort(), "/pushwire/sse?channel=h");
    REQUIRE(reader.status() == 200);
    for (int i = 0; i < 5; ++i) publish(server, "h", "1");
    publish(server, "nobody-reads", "1");  // no subscriber here: not observed
    reader.waitFor(5);
    auto c = server.client();
    auto res = c.Get("/pushwire/metrics");
    REQUIRE(res);
    const std::string& text = res->body;
    CHECK(text.find("# TYPE pushwire_publish_to_write_seconds histogram") != std::string::npos);
    CHECK(text.find("pushwire_publish_to_write_seconds_count 5\n") != std::string::npos);
    CHECK(text.find("pushwire_publish_to_write_seconds_bucket{le=\"+Inf\"} 5\n") != std::string::npos);
    CHECK(text.find("pushwire_publish_to_write_seconds_bucket{le=\"0.001\"}") != std::string::npos);
    for (const char* name : {"process_cpu_seconds_total ", "process_resident_memory_bytes ", "process_open_fds ",
                             "process_max_fds ", "process_start_time_seconds "}) {
        INFO(name);
        CHECK(text.find(std::string("\n") + name) != std::string::npos);
    }
    CHECK(text.find("process_resident_memory_bytes 0\n") == std::string::npos);
}

TEST_CASE("the server stops cleanly on SIGTERM") {
    ServerProcess server;
    SseClient held(server.httpPort(), "/pushwire/sse?channel=x");
    CHECK(server.terminate() == 0);
}

TEST_CASE(
    "SIGTERM drains: a held long-poll is answered, streams and WebSockets are told, and it exits once they are gone") {
    // A drain of up to a minute: the exit within terminate()'s 5 s shows it does not wait
    // for the deadline once every connection is gone.
    ServerProcess server({"--drain-ms", "60000", "--longpoll-timeout-ms", "60000"});
    publish(server, "d", "1");
    auto longPoll = std::async(std::launch::async, [&server] {
        auto c = server.client();
        c.set_read_timeout(30, 0);
        return c.Get("/pushwire/longpoll?channel=d&since=d@1");
    });
    SseClient stream(server.httpPort(), "/pushwire/sse?channel=d");
    REQUIRE(stream.status() == 200);
    WsClient ws(server.wsUrl("?channel=d"));
    REQUIRE(ws.connected());
    REQUIRE(server.waitMetric(kLongPolls, [](double n) { return n == 1; }) == 1);  // parked
    CHECK(server.terminate() == 0);
    auto answer = longPoll.get();
    REQUIRE(answer);  // answered, not cut
    CHECK(answer->status == 200);
    json body = json::parse(answer->body);
    CHECK(body["messages"].empty());
    CHECK(body["cursor"].get<std::string>().find("d@1") != std::string::npos);
    CHECK(ws.waitClosed() == 1001);
    CHECK(stream.ended());  // the stream ends in order (FIN), so EventSource reconnects elsewhere
}

}  // namespace endpoints_test
