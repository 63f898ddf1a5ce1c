// What a probe of the secured server broke, each against the real server with a bystander
// that keeps receiving: a subscription flood past --max-channels (refused per channel,
// memory bounded and given back), a slow reader (paced, not cut), tokens without `sub`
// (limited per address), a token in the URL from a foreign page (ignored), whitespace
// before a header's colon (400), dotfiles under --web-root (404), a date claim of the
// wrong type (said so), and the memory of a ping flood and of channels dropped by their
// TTL (given back).
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <thread>

#include "harness.hpp"
#include "server_process.hpp"
#include "support/token_minter.hpp"

using namespace pushwire::test;
using namespace pushwire::testing;
using nlohmann::json;

namespace hardening_test {

namespace {

const std::string kSecret = "hardening-secret-0123456789abcdef";

struct Files {
    Files() {
        char pattern[] = "/tmp/pushwire-hardening-XXXXXX";
        dir = mkdtemp(pattern);
        write("secret", kSecret + "\n");
    }
    ~Files() { std::filesystem::remove_all(dir); }
    std::string path(const std::string& name) const { return dir + "/" + name; }
    void write(const std::string& name, const std::string& text) const {
        std::filesystem::create_directories(std::filesystem::path(path(name)).parent_path());
        std::ofstream(path(name)) << text;
    }
    std::string dir;
};

// A reader of its own channel that must keep receiving whatever the test does.
struct Bystander {
    explicit Bystander(ServerProcess& s, const std::string& name = "calm", const std::string& query = "")
        : server(s), channel(name), sse(s.httpPort(), "/pushwire/sse?channel=" + name + query) {
        REQUIRE(sse.status() == 200);
    }
    void stillWorks() {
        REQUIRE(server.alive());
        const std::uint64_t seq = publish(server, channel, R"("ok")");
        CHECK(sse.waitFor(seq).size() == seq);
    }
    ServerProcess& server;
    std::string channel;
    SseClient sse;
};

std::string metricsOf(const ServerProcess& server) {
    auto response = server.client().Get("/pushwire/metrics");
    return response ? response->body : std::string();
}

// A gauge or counter of /pushwire/metrics (-1 when absent).
double metric(const ServerProcess& server, const std::string& name) {
    const std::string body = metricsOf(server);
    const std::size_t at = body.find("\n" + name + " ");
    if (at == std::string::npos) return -1;
    return std::stod(body.substr(at + name.size() + 2));
}

int statusOf(const std::string& answer) { return answer.size() > 12 ? std::stoi(answer.substr(9, 3)) : 0; }

// One request on a raw socket (from `from`, when given); the whole answer.
std::string exchange(int port, const std::string& request, const std::string& from = "") {
    RawSocket raw(port, 0, from);
    raw.send(request);
    return raw.readUntil([](const std::string& b) {
        auto end = b.find("\r\n\r\n");
        if (end == std::string::npos) return false;
        auto length = b.find("Content-Length: ");
        if (length == std::string::npos || length > end) return true;
        return b.size() >= end + 4 + std::stoul(b.substr(length + 16));
    });
}

std::string bodyOf(const std::string& answer) {
    const auto end = answer.find("\r\n\r\n");
    return end == std::string::npos ? "" : answer.substr(end + 4);
}

// Server RSS checks: under ASan the quarantine and shadow memory, not the server, decide
// RSS; there the bounds are left to the plain build and the rest of each test still runs.
// Such cases are tagged [rss]: ./build.sh test runs them against the plain server too
// (tests/CMakeLists.txt, PUSHWIRE_INTEGRATION_SANITIZED).
const bool kRssMeaningful = !serverSanitized();

}  // namespace

TEST_CASE(
    "a subscription flood past --max-channels is refused channel by channel, and its channels and memory go when the "
    "clients leave",
    "[rss]") {
    Files files;
    ServerProcess server({"--token-secret-file", files.path("secret"), "--public-subscribe", "news:*",
                          "--public-publish", "news:*", "--max-channels", "20000", "--channel-linger-ms", "300",
                          // The flood's clients answer no heartbeat: they must outlive a slow (sanitized) run.
                          "--heartbeat-ms", "60000"});
    Bystander bystander(server, "news:calm");
    const long before = residentKb(server.pid());
    // 200 anonymous connections, each asking for 1024 channels of its own: 204,800 in all
    // (half as many under the sanitizers, which are slow: still five times the limit).
    const int kConnections = kRssMeaningful ? 200 : 100, kPerConnection = 1024, kPerFrame = 256;
    std::vector<std::unique_ptr<RawWebSocket>> flood;
    for (int c = 0; c < kConnections; ++c) {
        flood.push_back(std::make_unique<RawWebSocket>(server.httpPort(), "/pushwire/ws"));
        REQUIRE(flood.back()->upgraded());
        for (int frame = 0; frame < kPerConnection / kPerFrame; ++frame) {
            json channels = json::array();
            for (int i = 0; i < kPerFrame; ++i) {
                channels.push_back("news:" + std::to_string(c) + ":" + std::to_string(frame * kPerFrame + i));
            }
            flood.back()->sendText(json{{"type", "subscribe"}, {"channels", channels}, {"id", frame}}.dump());
        }
    }
    // Every channel is answered: in a subscribed frame, or refused alone with overloaded,
    // the channel and its subscribe's id.
    std::size_t subscribed = 0, refused = 0, told = 0;
    for (auto& ws : flood) {
        std::size_t answered = 0;
        const auto& frames = ws->waitFor(
            [&](const std::vector<RawWebSocket::Frame>& all) {
                answered = 0;
                for (const auto& f : all) {
                    if (f.opcode != 1) continue;  // a heartbeat's WebSocket ping
                    json frame = json::parse(f.payload);
                    if (frame.value("type", "") == "subscribed") answered += frame["channels"].size();
                    if (frame.value("type", "") == "error") ++answered;
                }
                return answered >= kPerConnection;
            },
            30s);
        REQUIRE(answered == kPerConnection);
        for (const auto& f : frames) {
            if (f.opcode != 1) continue;
            json frame = json::parse(f.payload);
            if (frame.value("type", "") == "subscribed") subscribed += frame["channels"].size();
            if (frame.value("type", "") != "error") continue;
            ++refused;
            const bool complete = frame["error"]["code"] == "overloaded" && frame.contains("id") &&
                                  frame.value("channel", "").rfind("news:", 0) == 0;
            told += complete ? 1 : 0;
        }
    }
    CHECK(told == refused);
    const long peak = residentKb(server.pid());
    INFO("RSS before " << before << " kB, at peak " << peak << " kB");
    CHECK(subscribed == 20000 - 1);  // the limit, less the bystander's channel
    CHECK(refused == kConnections * kPerConnection - subscribed);
    CHECK(metric(server, "pushwire_channels") == 20000);
    CHECK(metric(server, "pushwire_broker_channels") == 20000);
    // At the limit, the HTTP transports refuse a new channel alone (the others go on), and
    // with no other channel answer 503 overloaded.
    auto poll = server.client().Get("/pushwire/poll?channel=news:calm&channel=news:new");
    REQUIRE(poll);
    CHECK(poll->status == 200);
    CHECK(json::parse(poll->body)["refused"][0]["error"]["code"] == "overloaded");
    for (const std::string endpoint : {"poll", "longpoll", "sse"}) {
        INFO(endpoint);
        const std::string answer =
            exchange(server.httpPort(), "GET /pushwire/" + endpoint + "?channel=news:new HTTP/1.1\r\nHost: x\r\n\r\n");
        CHECK(statusOf(answer) == 503);
        CHECK(errorCodeOf(bodyOf(answer)) == "overloaded");
    }
    bystander.stillWorks();
    if (kRssMeaningful) CHECK(peak - before < 200 * 1024);  // unbounded, it was 530 MB
    // The clients leave: their channels (which never held a message) go after the linger,
    // and the memory goes back to the system.
    flood.clear();
    CHECK(eventually([&] { return metric(server, "pushwire_channels") == 1; }));
    CHECK(eventually([&] { return metric(server, "pushwire_broker_channels") == 1; }));
    CHECK(eventually([&] { return metric(server, "pushwire_memory_trims_total") >= 1; }));
    const long after = residentKb(server.pid());
    INFO("RSS after the clients left " << after << " kB");
    if (kRssMeaningful) CHECK(after - before < 32 * 1024);
    bystander.stillWorks();
}

TEST_CASE(
    "a reader taking 5 KB/s of a fast channel is paced, not cut, on SSE and WebSocket, and one that stops is dropped") {
    // A fixed 1 MiB socket buffer (the kernel doubles it): full within a second here, and
    // then, as with any large buffer, the kernel takes nothing new from a 5 KB/s reader's
    // queue for minutes. Only what the reader acknowledges shows that it reads.
    ServerProcess server(
        {"--send-timeout-ms", "2500", "--max-message-bytes", "70000", "--socket-send-buffer", "1048576"});
    Bystander bystander(server);
    const std::string big = "\"" + std::string(60000, 'f') + "\"";
    std::atomic<bool> stop{false};
    std::atomic<int> published{0};
    // The fast channel: 60 KB messages, some MB/s, far more than the readers take.
    std::thread publisher([&] {
        auto client = server.client();
        client.set_keep_alive(true);
        client.set_tcp_nodelay(true);  // head and body go in two writes: no 40 ms delayed-ACK wait
        const std::string body = json{{"channel", "fast"}, {"data", json::parse(big)}}.dump();
        while (!stop) {
            auto response = client.Post("/pushwire/publish", body, "application/json");
            if (response && response->status == 200) ++published;
            std::this_thread::sleep_for(2ms);
        }
    });
    RawSocket sse(server.httpPort(), 4096);
    sse.send("GET /pushwire/sse?channel=fast HTTP/1.1\r\nHost: x\r\n\r\n");
    RawWebSocket ws(server.httpPort(), "/pushwire/ws?channel=fast", 4096);
    REQUIRE(ws.upgraded());
    RawSocket stopped(server.httpPort(), 4096);
    stopped.send("GET /pushwire/sse?channel=fast HTTP/1.1\r\nHost: x\r\n\r\n");  // and never reads
    // Both read 500 bytes every 100 ms (5 KB/s) until the one that stopped has been let go
    // (its buffers filled, and a whole --send-timeout-ms passed), then for 3x the timeout.
    std::size_t sseRead = 0, wsRead = 0;
    double disconnects = 0;
    std::optional<std::chrono::steady_clock::time_point> stoppedGone;
    const auto start = std::chrono::steady_clock::now();
    for (int tick = 1; std::chrono::steady_clock::now() - start < 60s; ++tick) {
        sseRead += sse.readSome(500, 1ms).size();
        wsRead += ws.socket().readSome(500, 1ms).size();
        if (tick % 10 == 0) {
            ws.send(RawWebSocket::frame(9, "alive"));  // a client ping: not silent
            disconnects = metric(server, "pushwire_slow_disconnects_total");
            if (disconnects >= 1 && !stoppedGone) stoppedGone = std::chrono::steady_clock::now();
            if (disconnects > 1 || (stoppedGone && std::chrono::steady_clock::now() - *stoppedGone > 7500ms)) break;
        }
        std::this_thread::sleep_for(100ms);  // the pace: 500 bytes every 100 ms
    }
    stop = true;
    publisher.join();
    INFO("read " << sseRead << " bytes of SSE and " << wsRead << " of WebSocket; " << published << " published");
    REQUIRE(stoppedGone);
    CHECK(disconnects == 1);  // only the reader that read nothing was let go
    const std::string metrics = metricsOf(server);
    CHECK(metrics.find("pushwire_connections{transport=\"sse\"} 2\n") != std::string::npos);  // slow + bystander
    CHECK(metrics.find("pushwire_connections{transport=\"websocket\"} 1\n") != std::string::npos);
    CHECK(sseRead > 20000);
    CHECK(wsRead > 20000);
    bystander.stillWorks();
}

TEST_CASE("tokens without sub are limited per address, not in one bucket for all") {
    Files files;
    ServerProcess server(
        {"--token-secret-file", files.path("secret"), "--publish-rate", "3", "--public-publish", "calm"});
    Bystander bystander(
        server, "calm",
        "&token=" + mintHs256(kSecret, {{"sub", "b"}, {"exp", unixNow() + 600}, {"subscribe", {"calm"}}}));
    auto token = [](const std::string& name) {
        return mintHs256(kSecret, {{"exp", unixNow() + 600}, {"publish", {"chat:*"}}, {"note", name}});
    };
    auto post = [&](const std::string& from, const std::string& bearer) {
        const std::string body = R"({"channel":"chat:a","data":1})";
        return statusOf(exchange(server.httpPort(),
                                 "POST /pushwire/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + bearer +
                                     "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body,
                                 from));
    };
    const std::string first = token("first"), second = token("second");
    int accepted = 0;
    for (int i = 0; i < 20 && post("127.0.0.2", first) == 200; ++i) ++accepted;
    CHECK(accepted >= 3);
    CHECK(accepted < 20);
    CHECK(post("127.0.0.2", first) == 429);
    CHECK(post("127.0.0.2", second) == 429);  // the same address: the same bucket
    CHECK(post("127.0.0.3", second) == 200);  // another address: its own
    CHECK(post("127.0.0.3", first) == 200);
    // A token with a sub is limited by its sub, wherever it comes from.
    const std::string alice = mintHs256(kSecret, {{"sub", "alice"}, {"exp", unixNow() + 600}, {"publish", {"chat:*"}}});
    int alicePublished = 0;
    for (int i = 0; i < 20 && post("127.0.0.4", alice) == 200; ++i) ++alicePublished;
    CHECK(post("127.0.0.5", alice) == 429);
    bystander.stillWorks();
}

TEST_CASE("a token= query from a page of another origin is ignored on every transport, as the cookie is") {
    Files files;
    const std::string token = mintHs256(
        kSecret, {{"sub", "alice"}, {"exp", unixNow() + 600}, {"subscribe", {"chat:*"}}, {"publish", {"chat:*"}}});
    SECTION("without --allowed-origins: only the server's own origin (or none) counts") {
        ServerProcess server(
            {"--token-secret-file", files.path("secret"), "--public-subscribe", "calm", "--public-publish", "calm"});
        Bystander bystander(server);
        const std::string own = "http://127.0.0.1:" + std::to_string(server.httpPort());
        for (const std::string endpoint : {"poll", "longpoll", "sse"}) {
            INFO(endpoint);
            auto get = [&](const std::string& originLine) {
                return exchange(server.httpPort(),
                                "GET /pushwire/" + endpoint + "?channel=chat:x&timeout_ms=0&token=" + token +
                                    " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(server.httpPort()) + "\r\n" +
                                    originLine + "\r\n");
            };
            for (const std::string origin : {"Origin: https://evil.example\r\n", "Origin: null\r\n"}) {
                INFO(origin);
                const std::string answer = get(origin);
                CHECK(statusOf(answer) == 401);
                CHECK(errorCodeOf(bodyOf(answer)) == "unauthorized");
            }
            CHECK(statusOf(get("")) == 200);                         // no page: a tool, the backend
            CHECK(statusOf(get("Origin: " + own + "\r\n")) == 200);  // the server's own page
        }
        for (const std::string origin : {"Origin: https://evil.example\r\n", "Origin: null\r\n"}) {
            INFO(origin);
            RawWebSocket ws(server.httpPort(), "/pushwire/ws?channel=chat:x&token=" + token, 0, origin);
            REQUIRE(ws.upgraded());  // no origin list: the upgrade is let through, the token is not
            const auto& frames = ws.waitFor([](const auto& all) {
                for (const auto& f : all) {
                    if (f.payload.find("\"error\"") != std::string::npos) return true;
                }
                return false;
            });
            bool unauthorized = false;
            for (const auto& f : frames) unauthorized = unauthorized || errorCodeOf(f.payload) == "unauthorized";
            CHECK(unauthorized);
            const std::string body = R"({"channel":"chat:x","data":1})";
            CHECK(statusOf(exchange(server.httpPort(),
                                    "POST /pushwire/publish?token=" + token + " HTTP/1.1\r\nHost: x\r\n" + origin +
                                        "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body)) == 401);
        }
        RawWebSocket tool(server.httpPort(), "/pushwire/ws?channel=chat:x&token=" + token);
        CHECK(tool.waitFor([](const auto& all) {
                      for (const auto& f : all) {
                          if (f.payload.find("\"subscribed\"") != std::string::npos) return true;
                      }
                      return false;
                  })
                  .size() >= 2);
        bystander.stillWorks();
    }
    SECTION("with --allowed-origins: an allowed page's token counts, another's does not") {
        ServerProcess server({"--token-secret-file", files.path("secret"), "--public-subscribe", "calm",
                              "--public-publish", "calm", "--allowed-origins", "https://app.example"});
        Bystander bystander(server);
        for (const std::string endpoint : {"poll", "longpoll", "sse"}) {
            INFO(endpoint);
            auto get = [&](const std::string& origin) {
                return statusOf(exchange(server.httpPort(),
                                         "GET /pushwire/" + endpoint + "?channel=chat:x&timeout_ms=0&token=" + token +
                                             " HTTP/1.1\r\nHost: x\r\nOrigin: " + origin + "\r\n\r\n"));
            };
            CHECK(get("https://app.example") == 200);
            // A page of another origin uses nothing, with a token or without.
            CHECK(get("https://evil.example") == 403);
            CHECK(get("null") == 403);
        }
        RawWebSocket evil(server.httpPort(), "/pushwire/ws?channel=chat:x&token=" + token, 0, "Origin: null\r\n");
        CHECK_FALSE(evil.upgraded());
        CHECK(evil.head().rfind("HTTP/1.1 403", 0) == 0);
        bystander.stillWorks();
    }
}

TEST_CASE("whitespace between a header name and its colon is a 400, beside the other smuggling cases") {
    Files files;
    ServerProcess server(
        {"--token-secret-file", files.path("secret"), "--public-subscribe", "calm", "--public-publish", "calm"});
    Bystander bystander(server);
    const std::string body = R"({"channel":"calm","data":1})";  // 27 bytes
    const std::string token = mintHs256(kSecret, {{"sub", "alice"}, {"exp", unixNow() + 600}, {"publish", {"chat:*"}}});
    const std::string post = "POST /pushwire/publish HTTP/1.1\r\nHost: x\r\n";
    for (const std::string& request : {
             post + "Content-Length : 27\r\n\r\n" + body,
             post + "Content-Length\t: 27\r\n\r\n" + body,
             post + "Content-Length: 27\r\nAuthorization : Bearer " + token + "\r\n\r\n" +
                 R"({"channel":"chat:a","data":1})",
             std::string("GET /pushwire/healthz HTTP/1.1\r\nHost : x\r\n\r\n"),
             std::string("GET /pushwire/healthz HTTP/1.1\r\nHost: x\r\n X-Folded: y\r\n\r\n"),
             std::string("GET /pushwire/healthz HTTP/1.1\r\nHost: x\r\nX(bad): y\r\n\r\n"),
         }) {
        INFO(request);
        const std::string answer = exchange(server.httpPort(), request);
        CHECK(statusOf(answer) == 400);
        CHECK(answer.find("Connection: close") != std::string::npos);
    }
    CHECK(statusOf(exchange(server.httpPort(), post + "Content-Length: 27\r\n\r\n" + body)) == 200);
    bystander.stillWorks();
}

TEST_CASE("files and folders whose name starts with a dot are 404 under --web-root, unless --serve-dotfiles") {
    Files files;
    files.write("web/index.html", "<p>hello</p>");
    files.write("web/.env", "SECRET=1");
    files.write("web/.git/config", "[core]");
    files.write("web/sub/.hidden", "x");
    files.write("web/sub/plain.txt", "plain");
    std::filesystem::create_symlink(".env", files.path("web/innocent"));
    {
        ServerProcess server({"--web-root", files.path("web")});
        Bystander bystander(server);
        auto get = [&](const std::string& path) { return server.client().Get(path.c_str())->status; };
        CHECK(get("/") == 200);
        CHECK(get("/sub/plain.txt") == 200);
        for (const std::string path : {"/.env", "/.git/config", "/.git/", "/sub/.hidden", "/innocent", "/%2eenv"}) {
            INFO(path);
            CHECK(get(path) == 404);
        }
        bystander.stillWorks();
    }
    ServerProcess open({"--web-root", files.path("web"), "--serve-dotfiles"});
    CHECK(open.client().Get("/.env")->status == 200);
    CHECK(open.client().Get("/.git/config")->status == 200);
}

TEST_CASE("a date claim of the wrong type is refused saying what is wrong with it") {
    Files files;
    ServerProcess server(
        {"--token-secret-file", files.path("secret"), "--public-subscribe", "calm", "--public-publish", "calm"});
    Bystander bystander(server);
    const auto now = unixNow();
    const std::vector<std::pair<json, std::string>> cases = {
        {{{"exp", now + 600}, {"nbf", "soon"}}, "nbf is a string; expected a NumericDate"},
        {{{"exp", now + 600}, {"iat", json::array({1})}}, "iat is an array; expected a NumericDate"},
        {{{"exp", true}}, "exp is a boolean; expected a NumericDate"},
        {{{"exp", now + 600}, {"nbf", 1e300}}, "nbf is out of range for a NumericDate"},
    };
    for (const auto& [claims, expected] : cases) {
        INFO(claims.dump());
        json all = claims;
        all["subscribe"] = {"chat:*"};
        auto response = server.client().Get(("/pushwire/poll?channel=chat:a&token=" + mintHs256(kSecret, all)).c_str());
        REQUIRE(response);
        CHECK(response->status == 401);
        const std::string message = json::parse(response->body)["error"]["message"];
        CHECK(message.find(expected) != std::string::npos);
        CHECK(message.find("-9223372036854775808") == std::string::npos);
    }
    bystander.stillWorks();
}

TEST_CASE("memory is given back after a ping flood and after channels are dropped by their TTL", "[rss]") {
    // A TTL of 2 s, not 1: on a loaded machine the first channels would expire before the
    // flood reaches its peak, and "the flood did take memory" would measure the machine.
    ServerProcess server({"--channel-ttl", "2", "--max-message-bytes", "70000"});
    Bystander bystander(server);
    const long before = residentKb(server.pid());
    SECTION("a ping flood: pongs queued for readers that do not read, until they are let go") {
        const std::string ping = RawWebSocket::frame(9, std::string(125, 'p'));
        std::string burst;
        for (int i = 0; i < 2000; ++i) burst += ping;
        std::vector<std::unique_ptr<RawWebSocket>> flood;
        for (int c = 0; c < 30; ++c) {
            flood.push_back(std::make_unique<RawWebSocket>(server.httpPort(), "/pushwire/ws", 4096));
            REQUIRE(flood.back()->upgraded());
        }
        // Each sends pings without reading a pong, until the server lets it go.
        for (int round = 0; round < 400; ++round) {
            bool anyOpen = false;
            for (auto& ws : flood) {
                if (ws->socket().trySend(burst) >= 0) anyOpen = true;
            }
            if (!anyOpen || metric(server, "pushwire_slow_disconnects_total") >= 30) break;
        }
        const long peak = residentKb(server.pid());
        INFO("RSS before " << before << " kB, at peak " << peak << " kB");
        flood.clear();
        CHECK(eventually([&] {
            return metricsOf(server).find("pushwire_connections{transport=\"websocket\"} 0\n") != std::string::npos;
        }));
        CHECK(eventually([&] { return metric(server, "pushwire_memory_trims_total") >= 1; }));
        // A trim may have come during the flood (the longer the flood takes, the likelier):
        // the one that gives its memory back comes after its connections are gone, so the
        // memory is waited for (and checked below), not only the count.
        long after = residentKb(server.pid());
        if (kRssMeaningful) eventually([&] { return (after = residentKb(server.pid())) - before < 16 * 1024; });
        INFO("RSS after " << after << " kB");
        if (kRssMeaningful) {
            CHECK(peak - before > 32 * 1024);  // the flood did take memory
            CHECK(after - before < 16 * 1024);
        }
    }
    SECTION("channels dropped by their TTL") {
        auto client = server.client();
        client.set_keep_alive(true);
        client.set_tcp_nodelay(true);  // head and body go in two writes: no 40 ms delayed-ACK wait
        const std::string data = std::string(2000, 'h');
        long peak = 0;
        for (int request = 0; request < 200; ++request) {
            json channels = json::array();
            for (int i = 0; i < 250; ++i) channels.push_back("ttl:" + std::to_string(request * 250 + i));
            auto response = client.Post("/pushwire/publish", json{{"channels", channels}, {"data", data}}.dump(),
                                        "application/json");
            REQUIRE(response);
            REQUIRE(response->status == 200);
            peak = std::max(peak, residentKb(server.pid()));
        }
        INFO("RSS before " << before << " kB, at peak " << peak << " kB");
        CHECK(eventually([&] { return metric(server, "pushwire_broker_channels") <= 1; }));
        CHECK(eventually([&] { return metric(server, "pushwire_memory_trims_total") >= 1; }));
        const long after = residentKb(server.pid());
        INFO("RSS after " << after << " kB");
        if (kRssMeaningful) {
            CHECK(peak - before > 48 * 1024);  // the flood did take memory (~100 MB of data sent)
            CHECK(after - before < 16 * 1024);
        }
    }
    bystander.stillWorks();
}

}  // namespace hardening_test
