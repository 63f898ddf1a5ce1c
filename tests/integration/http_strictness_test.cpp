// HTTP the way RFC 9112 wants it read, refusals every client can read, limits that hold
// over both ports, and static files that stay inside their root.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "server_process.hpp"
#include "support/bystander.hpp"

using namespace pushwire::test;

namespace http_strictness_test {

namespace {

std::string answerTo(int port, const std::string& request) {
    RawSocket raw(port);
    raw.send(request);
    return raw.readUntil([](const std::string& b) {
        auto end = b.find("\r\n\r\n");
        if (end == std::string::npos) return false;
        auto length = b.find("Content-Length: ");
        if (length == std::string::npos || length > end) return true;
        return b.size() >= end + 4 + std::stoul(b.substr(length + 16));
    });
}

std::string statusOf(const std::string& answer) { return answer.substr(0, 12); }

// A literal with a NUL inside, whole.
template <std::size_t N>
std::string withNul(const char (&text)[N]) {
    return std::string(text, N - 1);
}

}  // namespace

TEST_CASE("Content-Length that is not one plain number, bad versions and control characters get 400") {
    ServerProcess server;
    Bystander bystander(server);
    const std::string body = R"({"channel":"x","data":12})";  // 25 bytes
    const std::string head = "POST /pushwire/publish HTTP/1.1\r\nHost: x\r\n";
    for (const std::string& lengths :
         {std::string("Content-Length: 25\r\nContent-Length: 5\r\n"), std::string("Content-Length: 25, 5\r\n"),
          std::string("Content-Length: 25\r\nContent-Length: 25\r\n"), std::string("Content-Length: +25\r\n"),
          std::string("Content-Length: 25abc\r\n"), std::string("Content-Length: -1\r\n"),
          std::string("Content-Length: 99999999999999999999999\r\n")}) {
        INFO(lengths);
        std::string answer = answerTo(server.httpPort(), head + lengths + "\r\n" + body);
        CHECK(statusOf(answer) == "HTTP/1.1 400");
        CHECK(answer.find("Connection: close") != std::string::npos);
    }
    for (const std::string& request :
         {std::string("GET /pushwire/healthz HTTP/2.0\r\nHost: x\r\n\r\n"),
          std::string("GET /pushwire/healthz HTTQ/1.1\r\nHost: x\r\n\r\n"),
          std::string("GET /pushwire/healthz banana\r\nHost: x\r\n\r\n"),
          withNul("GET /pushwire/healthz HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n"),
          std::string("GET /pushwire/healthz HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n"),
          std::string("GET /pushwire/healthz HTTP/1.1\r\nHost: x\r\nX-A: a\nX-B: b\r\n\r\n"),
          std::string("GET /push\x01wire/healthz HTTP/1.1\r\nHost: x\r\n\r\n")}) {
        INFO(request);
        CHECK(statusOf(answerTo(server.httpPort(), request)) == "HTTP/1.1 400");
    }
    CHECK(statusOf(answerTo(server.httpPort(), head + "Content-Length: 25\r\n\r\n" + body)) == "HTTP/1.1 200");
    CHECK(statusOf(answerTo(server.httpPort(), "GET /pushwire/healthz HTTP/1.0\r\nHost: x\r\n\r\n")) == "HTTP/1.1 200");
    bystander.stillWorks();
}

TEST_CASE("HEAD answers with the length of the body it does not send") {
    TempDir root;
    std::ofstream(root.path + "/page.html") << std::string(1234, 'p');
    ServerProcess server({"--web-root", root.path});
    RawSocket raw(server.httpPort());
    raw.send("HEAD /page.html HTTP/1.1\r\nHost: x\r\n\r\nGET /pushwire/healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string got = raw.readUntil([](const std::string& b) { return b.find("\"status\"") != std::string::npos; });
    CHECK(got.rfind("HTTP/1.1 200", 0) == 0);
    CHECK(got.find("Content-Length: 1234\r\n") != std::string::npos);
    CHECK(got.find("ppp") == std::string::npos);  // no body: the next answer follows the head at once
    CHECK(got.find("\r\n\r\nHTTP/1.1 200") != std::string::npos);
}

TEST_CASE("a refused body is still read: the client gets the 413, not a reset") {
    ServerProcess server({"--max-message-bytes", "1024"});
    Bystander bystander(server);
    for (std::size_t size : {std::size_t{1} << 20, std::size_t{10} << 20}) {
        INFO(size << " bytes");
        RawSocket raw(server.httpPort());
        raw.send("POST /pushwire/publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                 std::to_string(size) + "\r\n\r\n");
        // The way Python's http.client does it: the whole body first, then the answer.
        const std::string chunk(64 * 1024, 'x');
        for (std::size_t sent = 0; sent < size; sent += chunk.size()) raw.send(chunk);
        std::string answer = raw.readUntil([](const std::string& b) { return b.find("}}") != std::string::npos; }, 10s);
        CHECK(answer.rfind("HTTP/1.1 413", 0) == 0);
        CHECK(answer.find("\"too_large\"") != std::string::npos);
        CHECK(raw.closedCleanly());
    }
    bystander.stillWorks();
}

TEST_CASE("a channels= list of 3500 names is refused at the first name past the limit") {
    ServerProcess server;
    Bystander bystander(server);
    std::string list;  // short names, so that the request line stays within the head limit
    const char* digits = "0123456789abcdefghijklmnopqrstuvwxyz";
    for (int i = 0; i < 3500; ++i) {
        list += (i ? "," : "") + std::string(1, digits[i % 36]) + std::string(1, digits[(i / 36) % 36]) +
                std::string(1, digits[i / 1296]);
    }
    std::vector<std::unique_ptr<RawSocket>> attackers;
    for (int i = 0; i < 32; ++i) {
        attackers.push_back(std::make_unique<RawSocket>(server.httpPort()));
        attackers.back()->send("GET /pushwire/poll?channels=" + list + " HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    for (auto& attacker : attackers) {
        std::string answer =
            attacker->readUntil([](const std::string& b) { return b.find("}}") != std::string::npos; });
        CHECK(answer.rfind("HTTP/1.1 400", 0) == 0);
        CHECK(answer.find("at most 256") != std::string::npos);
    }
    bystander.stillWorks();
}

TEST_CASE("the connection limit holds over both ports together, and the refused read a 503") {
    ServerProcess server({"--max-connections", "60", "--ws-port", "0"});
    REQUIRE(server.wsPort() != server.httpPort());
    std::vector<std::unique_ptr<RawSocket>> held;
    for (int i = 0; i < 40; ++i) {
        held.push_back(std::make_unique<RawSocket>(i % 2 ? server.wsPort() : server.httpPort()));
        held.back()->send("GET /pushwire/healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        held.back()->readUntil([](const std::string& b) { return b.find("}") != std::string::npos; });
    }
    for (int i = 0; i < 40; ++i) {
        held.push_back(std::make_unique<RawSocket>(i % 2 ? server.httpPort() : server.wsPort()));
    }
    // The kernel hands them over in the order they connected: the 20 past the limit are
    // refused, whenever the server gets to them.
    int refused = 0;
    for (std::size_t i = 40; i < held.size(); ++i) {
        held[i]->send("GET /pushwire/healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        std::string answer = held[i]->readUntil([](const std::string& b) { return b.find("}") != std::string::npos; });
        if (answer.rfind("HTTP/1.1 503", 0) == 0) {
            ++refused;
            CHECK(answer.find("\"overloaded\"") != std::string::npos);
            CHECK(held[i]->closedCleanly());
        }
    }
    CHECK(refused == 20);                                                           // 80 opened, 60 allowed in all
    CHECK(server.metric("pushwire_refused_connections_total").value_or(-1) == -1);  // no room even to ask
    held.clear();
    // The slots are free again: only the connection asking for the metric is open.
    CHECK(server.waitMetric("pushwire_http_connections", [](double n) { return n == 1; }) == 1);
    CHECK(server.metric("pushwire_refused_connections_total") >= 21);  // (and any metric request refused meanwhile)
    auto ok = server.client().Get("/pushwire/healthz");
    REQUIRE(ok);
    CHECK(ok->status == 200);
}

TEST_CASE("static files stay inside --web-root, and links out of it are followed only when asked") {
    TempDir root;
    TempDir outside;
    std::ofstream(root.path + "/inside.txt") << "inside";
    std::ofstream(outside.path + "/secret.txt") << "secret";
    REQUIRE(symlink(outside.path.c_str(), (root.path + "/out").c_str()) == 0);
    REQUIRE(symlink((root.path + "/inside.txt").c_str(), (root.path + "/alias.txt").c_str()) == 0);
    {
        ServerProcess server({"--web-root", root.path});
        auto c = server.client();
        auto secret = c.Get("/out/secret.txt");
        REQUIRE(secret);
        CHECK(secret->status == 404);
        CHECK(secret->body.find("secret\"") == std::string::npos);
        auto alias = c.Get("/alias.txt");  // a link that stays inside is fine
        REQUIRE(alias);
        CHECK(alias->body == "inside");
    }
    ServerProcess server({"--web-root", root.path, "--web-follow-symlinks"});
    auto secret = server.client().Get("/out/secret.txt");
    REQUIRE(secret);
    CHECK(secret->body == "secret");
}

TEST_CASE("the TLS port answers plain HTTP with a 400 saying so, and a broken handshake with an alert") {
    TempDir dir;
    const std::string key = dir.path + "/key.pem", cert = dir.path + "/cert.pem";
    REQUIRE(
        std::system(("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=127.0.0.1 "
                     "-days 1 -keyout '" +
                     key + "' -out '" + cert + "' 2>/dev/null")
                        .c_str()) == 0);
    ServerProcess server({"--tls-cert", cert, "--tls-key", key});
    {
        // http:// typed for https://: an answer in plain text instead of an empty reply.
        RawSocket raw(server.httpPort());
        raw.send("GET /pushwire/healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        std::string reply = raw.readUntil([](const std::string& b) { return b.find('}') != std::string::npos; });
        CHECK(statusOf(reply) == "HTTP/1.1 400");
        CHECK(reply.find("use https://") != std::string::npos);
        CHECK(raw.closedByPeer());
    }
    {
        // A record longer than TLS allows: OpenSSL's alert (content type 21) reaches the
        // client before the close.
        RawSocket raw(server.httpPort());
        raw.send(withNul("\x16\x03\x01\xff\xff") + std::string(100, 'x'));
        std::string reply = raw.readUntil([](const std::string& b) { return !b.empty(); });
        REQUIRE_FALSE(reply.empty());
        CHECK(reply[0] == '\x15');
        CHECK(raw.closedByPeer());
    }
    CHECK(server.alive());
}

}  // namespace http_strictness_test
