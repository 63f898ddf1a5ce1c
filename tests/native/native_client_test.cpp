// The native C++ client (client-native/, pushwire::Client on an asio::io_context) against
// the real server, on each transport: the delivery scenarios the browser SDK's tests have.
// Each message once and in order (held ones and live ones); a server on Redis killed
// (kill -9) and restarted mid-stream: nothing lost or repeated; a memory-broker server
// restarted: a gap (epoch_changed), then the new stream; a short-lived token refreshed
// through getToken (and one the server refuses, replaced); two nodes on one Redis with two
// URLs, the first killed: the client resumes on the second.
//
// "Nothing repeated" is checked without waiting for time to pass: once the expected
// messages are in, one more (a sentinel) is published and waited for; anything repeated
// would have come before it, in order. Every wait is for a condition, with a generous
// deadline (a loaded machine is slow, not wrong).
#include <asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "integration/server_process.hpp"
#include "pushwire/client.hpp"
#include "support/redis_server.hpp"
#include "support/token_minter.hpp"

using namespace pushwire::test;
using namespace std::chrono_literals;
using pushwire::Transport;

namespace {

// What a subscription saw, in the order it saw it: "1" for the message of seq 1 (whose
// data must be {"n":1}), "gap:<reason>" for a gap.
struct Seen {
    std::vector<std::string> events;
    std::vector<std::string> errors;
    std::size_t messages = 0;
    bool badData = false;
};

std::string url(const ServerProcess& server) { return "http://127.0.0.1:" + std::to_string(server.httpPort()); }

void publishRange(const ServerProcess& server, const std::string& channel, int first, int last) {
    for (int n = first; n <= last; ++n) {
        REQUIRE(publish(server, channel, "{\"n\":" + std::to_string(n) + "}") == static_cast<std::uint64_t>(n));
    }
}

std::vector<std::string> seqs(int first, int last) {
    std::vector<std::string> out;
    for (int n = first; n <= last; ++n) out.push_back(std::to_string(n));
    return out;
}

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

// One client on its own io_context, run by the test thread between its steps.
class NativeClient {
public:
    NativeClient(const std::vector<std::string>& urls, Transport transport, pushwire::TokenProvider getToken = {}) {
        pushwire::ClientOptions options;
        options.transport = transport;
        options.pollIntervalMs = 100;  // quick polls and reconnects: a fast test, not a timed one
        options.reconnectInitialMs = 100;
        options.reconnectMaxMs = 1000;
        options.getToken = std::move(getToken);
        client_ = std::make_unique<pushwire::Client>(io_, urls, options);
    }
    ~NativeClient() {
        client_->close();
        client_.reset();
        io_.restart();
        io_.poll();
    }

    void subscribe(const std::string& channel, const std::string& since = "0") {
        pushwire::SubscribeOptions options;
        options.since = since;
        options.onGap = [this](const pushwire::Gap& gap) { seen_.events.push_back("gap:" + gap.reason); };
        options.onError = [this](const pushwire::Error& error) { seen_.errors.push_back(error.code); };
        subscription_ = client_->subscribe(
            channel,
            [this](const pushwire::Message& message) {
                if (message.data != "{\"n\":" + std::to_string(message.seq) + "}") seen_.badData = true;
                seen_.events.push_back(std::to_string(message.seq));
                ++seen_.messages;
            },
            options);
    }

    // Runs the loop until `done`, 60 s at most; false if it never came.
    bool runUntil(const std::function<bool()>& done) {
        const auto deadline = std::chrono::steady_clock::now() + 60s;
        while (!done()) {
            if (std::chrono::steady_clock::now() > deadline) return false;
            io_.restart();
            io_.run_for(20ms);
        }
        return true;
    }
    bool runUntilMessages(std::size_t count) {
        return runUntil([&] { return seen_.messages >= count; });
    }

    const Seen& seen() const { return seen_; }
    pushwire::Client& client() { return *client_; }

private:
    asio::io_context io_;
    std::unique_ptr<pushwire::Client> client_;
    pushwire::Subscription subscription_;
    Seen seen_;
};

const char* name(Transport transport) { return pushwire::toString(transport); }

#define EXPECT_SEEN(nativeClient, expected)                      \
    do {                                                         \
        INFO("errors: " << (nativeClient).seen().errors.size()); \
        CHECK_FALSE((nativeClient).seen().badData);              \
        CHECK((nativeClient).seen().events == (expected));       \
    } while (false)

// ---------------------------------------------------------------- scenarios

void deliversOnceInOrder(Transport transport) {
    INFO(name(transport));
    ServerProcess server;
    publishRange(server, "held", 1, 3);
    NativeClient client({url(server)}, transport);
    client.subscribe("held");
    REQUIRE(client.runUntilMessages(3));
    publishRange(server, "held", 4, 6);
    REQUIRE(client.runUntilMessages(6));
    publishRange(server, "held", 7, 7);  // the sentinel
    REQUIRE(client.runUntilMessages(7));
    EXPECT_SEEN(client, seqs(1, 7));
    CHECK(client.client().transport() == transport);
}

void redisRestartLosesNothing(Transport transport) {
    INFO(name(transport));
    RedisServer redis;
    const std::string port = std::to_string(freeTcpPort());
    auto server = std::make_unique<ServerProcess>(std::vector<std::string>{"--port", port, "--broker", redis.url()});
    const std::string serverUrl = url(*server);
    publishRange(*server, "cut", 1, 3);
    NativeClient client({serverUrl}, transport);
    client.subscribe("cut");
    REQUIRE(client.runUntilMessages(3));
    server->kill9();  // mid-stream: the connection (or the poll in flight) is cut
    server = std::make_unique<ServerProcess>(std::vector<std::string>{"--port", port, "--broker", redis.url()});
    publishRange(*server, "cut", 4, 6);
    REQUIRE(client.runUntilMessages(6));
    publishRange(*server, "cut", 7, 7);
    REQUIRE(client.runUntilMessages(7));
    EXPECT_SEEN(client, seqs(1, 7));
}

void memoryRestartReportsGap(Transport transport) {
    INFO(name(transport));
    const std::string port = std::to_string(freeTcpPort());
    auto server = std::make_unique<ServerProcess>(std::vector<std::string>{"--port", port});
    publishRange(*server, "gap", 1, 2);
    NativeClient client({url(*server)}, transport);
    client.subscribe("gap");
    REQUIRE(client.runUntilMessages(2));
    server->kill9();
    server = std::make_unique<ServerProcess>(std::vector<std::string>{"--port", port});
    // The new server's channel starts over at seq 1; the client must say what it lost.
    REQUIRE(client.runUntil([&] { return client.seen().events.size() >= 3; }));
    publishRange(*server, "gap", 1, 2);
    REQUIRE(client.runUntilMessages(4));
    EXPECT_SEEN(client, seqs(1, 2) + std::vector<std::string>{"gap:epoch_changed"} + seqs(1, 2));
}

void failoverToSecondNode(Transport transport) {
    INFO(name(transport));
    RedisServer redis;
    ServerProcess node1({"--broker", redis.url()});
    ServerProcess node2({"--broker", redis.url()});
    publishRange(node1, "failover", 1, 3);
    NativeClient client({url(node1), url(node2)}, transport);
    client.subscribe("failover");
    REQUIRE(client.runUntilMessages(3));
    CHECK(client.client().server() == url(node1));
    node1.kill9();
    publishRange(node2, "failover", 4, 6);
    REQUIRE(client.runUntilMessages(6));
    publishRange(node2, "failover", 7, 7);
    REQUIRE(client.runUntilMessages(7));
    EXPECT_SEEN(client, seqs(1, 7));
    CHECK(client.client().server() == url(node2));
}

// A server that needs a token: the first getToken answer is one it refuses (signed with
// another secret), the next ones live 3 s each. The client must ask again after the
// refusal, and again ahead of each exp, so that the stream goes on past the first good
// token's exp with nothing lost or repeated.
void tokenRefreshed(Transport transport) {
    INFO(name(transport));
    const std::string secret = "native-client-secret-0123456789abcdef";
    char pattern[] = "/tmp/pushwire-native-XXXXXX";
    const std::string dir = mkdtemp(pattern);
    std::ofstream(dir + "/secret") << secret;
    // Anyone may publish (the test does, without a token); subscribing needs one.
    ServerProcess server({"--token-secret-file", dir + "/secret", "--public-publish", "chat:*"});
    std::filesystem::remove_all(dir);
    const nlohmann::json rights = {"chat:*"};
    int asked = 0;
    std::int64_t firstGoodExp = 0;
    NativeClient client({url(server)}, transport, [&](pushwire::TokenCallback done) {
        ++asked;
        const std::int64_t exp = pushwire::testing::unixNow() + 3;
        nlohmann::json claims = {{"sub", "native"}, {"exp", exp}, {"subscribe", rights}};
        if (asked == 1) {
            done(pushwire::testing::mintHs256("another-secret-0123456789abcdef0123", claims));
            return;
        }
        if (!firstGoodExp) firstGoodExp = exp;
        done(pushwire::testing::mintHs256(secret, claims));
    });
    publishRange(server, "chat:1", 1, 3);
    client.subscribe("chat:1");
    REQUIRE(client.runUntilMessages(3));
    // Past the first good token's exp (wall clock, as the server checks it), by a second.
    REQUIRE(client.runUntil([&] { return firstGoodExp && pushwire::testing::unixNow() > firstGoodExp + 1; }));
    publishRange(server, "chat:1", 4, 6);
    REQUIRE(client.runUntilMessages(6));
    publishRange(server, "chat:1", 7, 7);
    REQUIRE(client.runUntilMessages(7));
    EXPECT_SEEN(client, seqs(1, 7));
    CHECK(asked >= 3);  // the refused one, the first good one, at least one refresh
    // The refusal was told (once per refused connection), nothing else.
    CHECK_FALSE(client.seen().errors.empty());
    for (const std::string& code : client.seen().errors) CHECK((code == "unauthorized" || code == "token_expired"));
}

}  // namespace

#define PER_TRANSPORT(scenario, what)                                                              \
    TEST_CASE("native client on websocket: " what, "[native]") { scenario(Transport::WebSocket); } \
    TEST_CASE("native client on sse: " what, "[native]") { scenario(Transport::Sse); }             \
    TEST_CASE("native client on longpoll: " what, "[native]") { scenario(Transport::LongPoll); }   \
    TEST_CASE("native client on poll: " what, "[native]") { scenario(Transport::Poll); }

PER_TRANSPORT(deliversOnceInOrder, "held and live messages arrive once each in order")
PER_TRANSPORT(redisRestartLosesNothing, "a server on Redis killed and restarted mid-stream loses and repeats nothing")
PER_TRANSPORT(memoryRestartReportsGap, "a memory-broker server restarted shows a gap then the new stream")
PER_TRANSPORT(failoverToSecondNode,
              "with two URLs on Redis the first node killed moves the client to the second, nothing lost")
PER_TRANSPORT(tokenRefreshed,
              "a refused token is replaced and short-lived tokens are refreshed through getToken, nothing lost")
