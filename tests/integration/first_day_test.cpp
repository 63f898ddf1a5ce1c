// Issue 25, the server's half: a first day without surprises. Each misuse is answered at
// once, where the user looks: a refused origin is named in the log and in the answer, a
// refused channel reaches a long-poll client in one round trip, the start-up lines say
// which broker and transports the server has, the metrics count what their names say, and
// the operator's mistakes in flags, config and environment are named.
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "harness.hpp"
#include "server_process.hpp"
#include "support/bystander.hpp"
#include "support/redis_server.hpp"
#include "support/token_minter.hpp"

using namespace pushwire::test;
using namespace pushwire::testing;
using nlohmann::json;

namespace first_day_test {

namespace {}  // namespace

TEST_CASE("long-poll: a channel outside the token's rights is answered at once, beside the allowed ones") {
    TempDir files;
    files.write("secret", kTestSecret);
    // A long-poll held for ten minutes if nothing answered it: the answer must not wait.
    ServerProcess server(
        {"--token-secret-file", files.file("secret"), "--public-publish", "chat:a", "--longpoll-timeout-ms", "600000"});
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
        server.waitMetric("pushwire_longpolls_waiting", [](double n) { return n == 1; });
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

namespace {

// Runs pushwire-server with `args` (and `environment` added) and returns its stdout lines
// up to the one containing `last` (or all it wrote before exiting or 15 s), then stops it.
// The start-up lines a ServerProcess does not keep (it reads the first one).
// The last start-up line is the access policy's: "WARNING: OPEN: ..." for a server without
// keys (text), event "access_policy" (JSON). A `last` never written costs the whole 15 s.
std::vector<std::string> startupLines(std::vector<std::string> args, const std::string& last,
                                      const std::vector<std::string>& environment = {}) {
    int out[2];
    REQUIRE(pipe(out) == 0);
    args.insert(args.begin(), serverBinary());
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    std::vector<std::string> env;
    for (char** entry = environ; entry && *entry; ++entry) env.emplace_back(*entry);
    env.insert(env.end(), environment.begin(), environment.end());
    std::vector<char*> envp;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    const pid_t pid = fork();
    if (pid == 0) {
        dup2(out[1], 1);
        close_range(3, ~0u, 0);
        execve(argv[0], argv.data(), envp.data());
        _exit(127);
    }
    close(out[1]);
    std::string text;
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    while (text.find(last) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
        pollfd p{out[0], POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        char buf[4096];
        const ssize_t n = read(out[0], buf, sizeof buf);
        if (n <= 0) break;
        text.append(buf, static_cast<std::size_t>(n));
    }
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    close(out[0]);
    std::vector<std::string> lines;
    std::istringstream stream(text);
    for (std::string line; std::getline(stream, line);) lines.push_back(line);
    return lines;
}

}  // namespace

TEST_CASE("the start-up lines name the broker and its state, and only the enabled transports") {
    SECTION("memory, WebSocket off: no ws:// URL, and negotiate's websocket_url is null") {
        auto lines = startupLines({"--port", "0", "--transports", "sse,poll"}, "OPEN: ");
        REQUIRE(lines.size() >= 4);
        CHECK(lines[0].find(" transports sse,poll") != std::string::npos);
        CHECK(lines[0].find("ws://") == std::string::npos);
        CHECK(lines[1] == "pushwire-server broker memory (channels and history live in this process only)");
        ServerProcess server({"--transports", "sse,poll"});
        json answer = json::parse(server.client().Get("/pushwire/negotiate")->body);
        CHECK(answer["transports"] == json::array({"sse", "poll"}));
        CHECK(answer["websocket_url"].is_null());
        CHECK(json::parse(ServerProcess().client().Get("/pushwire/negotiate")->body)["websocket_url"].is_string());
    }
    SECTION("a Redis that cannot be reached is a warning at start, naming it and why") {
        // Port 1 of loopback: nothing listens there, the connection is refused at once.
        auto lines = startupLines({"--port", "0", "--broker", "redis://127.0.0.1:1"}, "OPEN: ");
        REQUIRE(lines.size() >= 2);
        CHECK(lines[0].find(" ws://") != std::string::npos);
        CHECK(lines[1].rfind("pushwire-server WARNING: broker redis://127.0.0.1:1/0 cannot be reached (", 0) == 0);
        CHECK(lines[1].find("negotiate and /pushwire/healthz answer 503") != std::string::npos);
    }
    SECTION("a Redis that answers is named, reached") {
        RedisServer redis;
        auto lines = startupLines({"--port", "0", "--broker", redis.url()}, "OPEN: ");
        REQUIRE(lines.size() >= 2);
        CHECK(lines[1] == "pushwire-server broker " + redis.url() + "/0 reached (keys start with \"pushwire:\")");
    }
}

TEST_CASE("log-format json: every line is JSON, the start-up lines on stdout too, and an error is an object") {
    auto lines = startupLines({"--port", "0", "--log-format", "json"}, "access_policy");
    REQUIRE(lines.size() == 4);
    std::vector<std::string> events;
    for (const std::string& line : lines) {
        json event = json::parse(line);  // throws (and fails) on a line that is not JSON
        CHECK(event.contains("time"));
        events.push_back(event.value("event", ""));
    }
    CHECK(events == std::vector<std::string>{"listening", "broker", "write_path", "access_policy"});
    json listening = json::parse(lines[0]);
    CHECK(listening["transports"] == json::array({"websocket", "sse", "longpoll", "poll"}));
    CHECK(json::parse(lines[1])["broker"] == "memory");

    ServerProcess server({"--log-format", "json"}, {"PUSHWIRE_MAX_CHANELS=5"});
    CHECK(server.client().Get("/pushwire/poll?channel=bad%20name")->status == 400);
    server.terminate();
    bool sawRefusal = false, sawVariable = false;
    std::istringstream log(server.log());
    for (std::string line; std::getline(log, line);) {
        json event = json::parse(line);
        if (event["event"] == "refused") {
            REQUIRE(event["error"].is_object());
            CHECK(event["error"]["code"] == "bad_channel");
            sawRefusal = true;
        }
        if (event["event"] == "unknown_variable" && event["name"] == "PUSHWIRE_MAX_CHANELS") {
            CHECK(event["did_you_mean"] == "PUSHWIRE_MAX_CHANNELS");
            sawVariable = true;
        }
    }
    CHECK(sawRefusal);
    CHECK(sawVariable);
}

TEST_CASE(
    "an unknown PUSHWIRE_ variable is a warning naming it and the near one, and config keys are named as written") {
    ServerProcess server({}, {"PUSHWIRE_MAX_CHANELS=5"});
    CHECK(server.log().find("warn unknown_variable name=PUSHWIRE_MAX_CHANELS did_you_mean=PUSHWIRE_MAX_CHANNELS") !=
          std::string::npos);
    TempDir files;
    files.write("config.json", R"({"max_channels": 5})");
    const std::string command = std::string(serverBinary()) + " --config " + files.file("config.json") + " 2>&1";
    FILE* pipe = popen(command.c_str(), "r");
    REQUIRE(pipe);
    std::string said;
    char buf[512];
    while (std::fgets(buf, sizeof buf, pipe)) said += buf;
    CHECK(WEXITSTATUS(pclose(pipe)) == 2);
    CHECK_THAT(said, Catch::Contains("unknown key \"max_channels\" (did you mean \"max-channels\"?)"));
}

TEST_CASE("print-config: prints the options in effect as a config file that gives the same options") {
    TempDir files;
    auto run = [](const std::string& arguments) {
        FILE* pipe = popen((std::string("PUSHWIRE_HISTORY=77 ") + serverBinary() + " " + arguments).c_str(), "r");
        REQUIRE(pipe);
        std::string out;
        char buf[4096];
        while (std::size_t n = std::fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
        CHECK(WEXITSTATUS(pclose(pipe)) == 0);
        return out;
    };
    const std::string printed = run("--transports sse,poll --max-channels 5000 --reuse-port --print-config");
    json config = json::parse(printed);
    CHECK(config["transports"] == json::array({"sse", "poll"}));
    CHECK(config["max-channels"] == 5000);
    CHECK(config["history"] == 77);  // from the environment
    CHECK(config["reuse-port"] == true);
    CHECK(config["port"] == 8080);  // a default
    files.write("again.json", printed);
    CHECK(run("--config " + files.file("again.json") + " --print-config") == printed);
}

TEST_CASE("metrics: connections are streams, polls are requests, channels agree with the broker, build info") {
    ServerProcess server;
    SseClient sse(server.httpPort(), "/pushwire/sse?channel=a");
    sse.waitFor(1, "welcome");
    WsClient ws(server.wsUrl("?channel=b"));
    REQUIRE(ws.connected());
    auto client = server.client();
    for (int i = 0; i < 3; ++i) CHECK(client.Get("/pushwire/poll?channel=c")->status == 200);
    CHECK(client.Get("/pushwire/longpoll?channel=c&timeout_ms=0")->status == 200);
    for (int i = 0; i < 10; ++i) publish(server, "ch" + std::to_string(i), "1");
    CHECK(server.waitMetric("pushwire_connections{transport=\"websocket\"}", [](double n) { return n == 1; }) == 1);
    CHECK(server.metric("pushwire_connections{transport=\"sse\"}") == 1);
    CHECK(server.metric("pushwire_connections{transport=\"poll\"}") == std::nullopt);  // no such series
    CHECK(server.metric("pushwire_connections{transport=\"longpoll\"}") == std::nullopt);
    CHECK(server.metric("pushwire_requests_total{transport=\"poll\"}") == 3);
    CHECK(server.metric("pushwire_requests_total{transport=\"longpoll\"}") == 1);
    CHECK(server.metric("pushwire_longpolls_waiting") == 0);
    const auto channels = server.metric("pushwire_channels");
    REQUIRE(channels);
    CHECK(*channels >= 10);
    CHECK(channels == server.metric("pushwire_broker_channels"));
    const std::string text = server.client().Get("/pushwire/metrics")->body;
    std::smatch m;
    REQUIRE(
        std::regex_search(text, m, std::regex("pushwire_build_info\\{version=\"([^\"]+)\",commit=\"([^\"]+)\"\\} 1")));
    CHECK(m[1] == "0.1.0");
    CHECK(std::regex_match(m[2].str(), std::regex("[0-9a-f]{12}|unknown")));
}

TEST_CASE(
    "metrics-allow: the metrics are served to the addresses listed (default loopback and private), 403 to others") {
    auto metricsFrom = [](const ServerProcess& server, const std::string& from) {
        RawSocket socket(server.httpPort(), 0, from);
        socket.send("GET /pushwire/metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        const std::string answer =
            socket.readUntil([](const std::string& b) { return b.find("\r\n") != std::string::npos; });
        return answer.substr(0, 12);
    };
    {
        ServerProcess server;
        CHECK(metricsFrom(server, "127.0.0.1") == "HTTP/1.1 200");
        CHECK(metricsFrom(server, "127.0.0.5") == "HTTP/1.1 200");
    }
    {
        ServerProcess server({"--metrics-allow", "127.0.0.2, 10.0.0.0/8"});
        CHECK(metricsFrom(server, "127.0.0.2") == "HTTP/1.1 200");
        CHECK(metricsFrom(server, "127.0.0.1") == "HTTP/1.1 403");
        auto refused = server.client().Get("/pushwire/metrics");
        REQUIRE(refused);
        CHECK(errorCodeOf(refused->body) == "forbidden");
        CHECK(refused->body.find("--metrics-allow") != std::string::npos);
        CHECK(server.client().Get("/pushwire/healthz")->status == 200);  // health stays open
    }
    FILE* pipe = popen((std::string(serverBinary()) + " --metrics-allow 10.0.0.0/33 2>&1").c_str(), "r");
    REQUIRE(pipe);
    std::string said;
    char buf[512];
    while (std::fgets(buf, sizeof buf, pipe)) said += buf;
    CHECK(WEXITSTATUS(pclose(pipe)) == 2);
    CHECK_THAT(said, Catch::Contains("--metrics-allow: '10.0.0.0/33' is not an address or a range"));
}

namespace {

std::string gunzip(const std::string& data) {
    z_stream stream{};
    REQUIRE(inflateInit2(&stream, 15 + 16) == Z_OK);
    std::string out;
    char buf[16384];
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    stream.avail_in = static_cast<uInt>(data.size());
    int result = Z_OK;
    while (result == Z_OK) {
        stream.next_out = reinterpret_cast<Bytef*>(buf);
        stream.avail_out = sizeof buf;
        result = inflate(&stream, Z_NO_FLUSH);
        out.append(buf, sizeof buf - stream.avail_out);
    }
    inflateEnd(&stream);
    CHECK(result == Z_STREAM_END);
    return out;
}

}  // namespace

TEST_CASE("web-root: text is gzipped on the fly and kept, hashed assets cached a year, the rest revalidated") {
    TempDir files;
    std::string script;
    for (int i = 0; i < 400; ++i)
        script += "export function f" + std::to_string(i) + "() { return " + std::to_string(i) + "; }\n";
    files.write("web/assets/index-BkX3a9_Q.js", script);
    files.write("web/assets/app-settings.js", script);
    files.write("web/index.html", "<!doctype html><title>app</title>" + std::string(2000, ' ') + "<p>hello</p>");
    files.write("web/tiny.txt", "hi");
    ServerProcess server({"--web-root", files.file("web")});
    auto client = server.client();
    client.set_decompress(false);  // the bytes as sent (and no Accept-Encoding unless given)
    const httplib::Headers gzip = {{"Accept-Encoding", "gzip, deflate, br"}};

    auto hashed = client.Get("/assets/index-BkX3a9_Q.js", gzip);
    REQUIRE(hashed);
    REQUIRE(hashed->status == 200);
    CHECK(hashed->get_header_value("Content-Encoding") == "gzip");
    CHECK(hashed->body.size() < script.size() / 3);
    CHECK(gunzip(hashed->body) == script);
    CHECK(hashed->get_header_value("Cache-Control") == "public, max-age=31536000, immutable");
    CHECK(hashed->get_header_value("Vary") == "Accept-Encoding");
    CHECK(server.metric("pushwire_web_gzip_total{source=\"compressed\"}") == 1);
    // The next client gets the same bytes from the cache.
    auto again = client.Get("/assets/index-BkX3a9_Q.js", gzip);
    REQUIRE(again);
    CHECK(again->body == hashed->body);
    CHECK(server.metric("pushwire_web_gzip_total{source=\"cache\"}") == 1);
    CHECK(server.metric("pushwire_web_gzip_cache_bytes") == hashed->body.size());

    // Not a hash (all lower case), the page, a client without gzip: revalidated.
    auto plainName = client.Get("/assets/app-settings.js", gzip);
    REQUIRE(plainName);
    CHECK(plainName->get_header_value("Cache-Control") == "no-cache");
    auto page = client.Get("/");
    REQUIRE(page);
    CHECK(page->get_header_value("Content-Encoding").empty());
    CHECK(page->body.find("<p>hello</p>") != std::string::npos);
    CHECK(page->get_header_value("Cache-Control") == "no-cache");
    const std::string etag = page->get_header_value("ETag");
    const std::string modified = page->get_header_value("Last-Modified");
    CHECK_FALSE(etag.empty());
    CHECK(modified.find(" GMT") != std::string::npos);
    CHECK(client.Get("/", {{"If-None-Match", etag}})->status == 304);
    CHECK(client.Get("/", {{"If-Modified-Since", modified}})->status == 304);
    CHECK(client.Get("/", {{"If-Modified-Since", "Thu, 01 Jan 1970 00:00:00 GMT"}})->status == 200);
    auto gzPage = client.Get("/", gzip);
    REQUIRE(gzPage);
    CHECK(gzPage->get_header_value("Content-Encoding") == "gzip");
    CHECK(gzPage->get_header_value("ETag") != etag);  // another encoding, another tag
    // Too small to gain: as it is.
    auto tiny = client.Get("/tiny.txt", gzip);
    REQUIRE(tiny);
    CHECK(tiny->get_header_value("Content-Encoding").empty());
    CHECK(tiny->body == "hi");

    // A rebuilt file is compressed again, not served stale from the cache.
    std::this_thread::sleep_for(10ms);  // a modification time of its own
    files.write("web/assets/index-BkX3a9_Q.js", script + "// v2\n");
    auto rebuilt = client.Get("/assets/index-BkX3a9_Q.js", gzip);
    REQUIRE(rebuilt);
    CHECK(gunzip(rebuilt->body) == script + "// v2\n");
}

}  // namespace first_day_test
