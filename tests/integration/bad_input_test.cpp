// Bad input gets a JSON error (or a close code) and never disturbs other clients.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "server_process.hpp"
#include "support/bystander.hpp"

using namespace pushwire::test;
using nlohmann::json;

namespace bad_input_test {

namespace {

void expectError(const httplib::Result& res, int status, const std::string& code) {
    REQUIRE(res);
    INFO(res->body);
    CHECK(res->status == status);
    json body = json::parse(res->body, nullptr, false);
    REQUIRE(body.is_object());
    CHECK(body["error"]["code"] == code);
    CHECK_FALSE(body["error"]["message"].get<std::string>().empty());
}

}  // namespace

TEST_CASE("bad publish requests get JSON errors with codes") {
    ServerProcess server({"--max-message-bytes", "1024"});
    Bystander bystander(server);
    auto c = server.client();
    expectError(c.Post("/pushwire/publish", "{not json", "application/json"), 400, "bad_json");
    expectError(c.Post("/pushwire/publish", "[1,2]", "application/json"), 400, "bad_type");
    expectError(c.Post("/pushwire/publish", R"({"channel":"a b","data":1})", "application/json"), 400, "bad_channel");
    expectError(c.Post("/pushwire/publish", R"({"channel":"","data":1})", "application/json"), 400, "bad_channel");
    expectError(c.Post("/pushwire/publish", R"({"channel":"a","data":1,"extra":true})", "application/json"), 400,
                "unknown_field");
    expectError(c.Post("/pushwire/publish", R"({"channel":"a"})", "application/json"), 400, "missing_field");
    expectError(c.Post("/pushwire/publish", R"({"channel":7,"data":1})", "application/json"), 400, "bad_type");
    expectError(c.Post("/pushwire/publish", "\xff\xfe\xfd", "application/json"), 400, "bad_json");
    // A NUL ends nothing: JSON followed by NUL and more is not JSON (nlohmann alone took it).
    expectError(c.Post("/pushwire/publish",
                       std::string(R"({"channel":"a","data":1})"
                                   "\0junk",
                                   29),
                       "application/json"),
                400, "bad_json");
    expectError(c.Get("/pushwire/publish"), 405, "method_not_allowed");
    std::string big = R"({"channel":"a","data":")" + std::string(1500, 'x') + "\"}";
    expectError(c.Post("/pushwire/publish", big, "application/json"), 413, "too_large");
    std::string huge = R"({"channel":"a","data":")" + std::string(100000, 'x') + "\"}";
    // Refused bodies are read to their end, so the client reads the answer, not a reset.
    expectError(c.Post("/pushwire/publish", huge, "application/json"), 413, "too_large");
    bystander.stillWorks();
}

TEST_CASE("bad subscription requests get JSON errors on every HTTP transport") {
    ServerProcess server;
    Bystander bystander(server);
    auto c = server.client();
    for (std::string endpoint : {"/pushwire/poll", "/pushwire/longpoll", "/pushwire/sse"}) {
        INFO(endpoint);
        expectError(c.Get((endpoint).c_str()), 400, "missing_field");
        expectError(c.Get((endpoint + "?channel=bad%20name").c_str()), 400, "bad_channel");
        expectError(c.Get((endpoint + "?channel=ok&since=banana").c_str()), 400, "bad_cursor");
        expectError(c.Get((endpoint + "?channel=ok&since=ok@-1").c_str()), 400, "bad_cursor");
        expectError(c.Get((endpoint + "?channel=ok&since=").c_str()), 400, "bad_cursor");
        expectError(c.Get((endpoint + "?channel=%ZZ").c_str()), 400, "bad_request");
        expectError(c.Post(endpoint.c_str(), "", "text/plain"), 405, "method_not_allowed");
    }
    expectError(c.Get("/pushwire/sse?channel=ok", {{"Last-Event-ID", "garbage!"}}), 400, "bad_cursor");
    expectError(c.Get("/pushwire/longpoll?channel=ok&timeout_ms=soon"), 400, "bad_request");
    std::string many = "/pushwire/poll?channels=c0";
    for (int i = 1; i < 300; ++i) many += ",c" + std::to_string(i);
    expectError(c.Get(many.c_str()), 400, "bad_request");
    expectError(c.Get("/pushwire/nothing"), 404, "not_found");
    bystander.stillWorks();
}

TEST_CASE("garbage bytes on the HTTP port get a 400 and a closed connection") {
    ServerProcess server;
    Bystander bystander(server);
    {
        RawSocket raw(server.httpPort());
        static const char kTlsHello[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 garbage\r\n\r\n";
        raw.send(std::string(kTlsHello, sizeof kTlsHello - 1));  // embedded NULs: length by sizeof
        std::string reply = raw.readUntil([](const std::string& b) { return b.find('}') != std::string::npos; });
        CHECK(reply.rfind("HTTP/1.1 400", 0) == 0);
        CHECK(reply.find("\"code\":\"bad_request\"") != std::string::npos);
        CHECK(raw.closedByPeer());
    }
    {
        RawSocket raw(server.httpPort());
        raw.send("GET / HTTP/1.1\r\nX: " + std::string(20000, 'a') + "\r\n\r\n");
        std::string reply = raw.readUntil([](const std::string& b) { return b.find('}') != std::string::npos; });
        CHECK(reply.rfind("HTTP/1.1 431", 0) == 0);
    }
    {
        RawSocket raw(server.httpPort());
        raw.send(
            "POST /pushwire/publish HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
        std::string reply = raw.readUntil([](const std::string& b) { return b.find('}') != std::string::npos; });
        CHECK(reply.rfind("HTTP/1.1 411", 0) == 0);
    }
    bystander.stillWorks();
}

TEST_CASE("keep-alive and pipelined requests are answered in order") {
    ServerProcess server;
    RawSocket raw(server.httpPort());
    std::string req = "GET /pushwire/healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    raw.send(req + req + req);
    std::string reply = raw.readUntil([](const std::string& b) {
        std::size_t n = 0, pos = 0;
        while ((pos = b.find("\"status\":\"ok\"", pos)) != std::string::npos) ++n, ++pos;
        return n == 3;
    });
    std::size_t count = 0, pos = 0;
    while ((pos = reply.find("HTTP/1.1 200", pos)) != std::string::npos) ++count, ++pos;
    CHECK(count == 3);
}

TEST_CASE("half-open and idle connections are dropped without disturbing others") {
    ServerProcess server({"--request-timeout-ms", "500"});
    Bystander bystander(server);
    RawSocket slow(server.httpPort());
    slow.send("GET /pushwire/healthz HTTP/1.1\r\nHost: x\r\n");  // never finished
    RawSocket silent(server.httpPort());                         // never sends a byte
    bystander.stillWorks();
    std::string reply = slow.readUntil([](const std::string& b) { return b.find('}') != std::string::npos; });
    CHECK(reply.rfind("HTTP/1.1 408", 0) == 0);
    CHECK(slow.closedByPeer());
    CHECK(silent.closedByPeer());
    bystander.stillWorks();
}

TEST_CASE("bad WebSocket frames get error frames and oversized frames close with 1009") {
    ServerProcess server({"--max-message-bytes", "1024"});
    Bystander bystander(server);
    WsClient ws(server.wsUrl());
    REQUIRE(ws.connected());
    auto error = [&](const std::string& code) {
        std::string f = ws.waitFor([](const std::string& x) { return field(x, "type") == "error"; });
        INFO(f);
        REQUIRE_FALSE(f.empty());
        CHECK(json::parse(f)["error"]["code"] == code);
    };
    ws.send("{{{");
    error("bad_json");
    ws.send(R"({"type":"subscribe","channel":"no spaces"})");
    error("bad_channel");
    ws.send(R"({"type":"subscribe","channel":"ok","since":"x@y"})");
    error("bad_cursor");
    ws.send(R"({"type":"launch"})");
    error("bad_request");
    ws.send(R"({"type":"publish","channel":"ok","data":1,"color":"red"})");
    error("unknown_field");
    ws.sendBinary("\x01\x02");
    error("bad_request");
    ws.send(R"({"type":"publish","channel":"ok","data":")" + std::string(2000, 'x') + "\"}");
    error("too_large");
    ws.send(R"({"type":"ping"})");
    CHECK_FALSE(ws.waitFor([](const std::string& x) { return field(x, "type") == "pong"; }).empty());
    ws.send(std::string(10000, ' '));
    CHECK(ws.waitClosed() == 1009);
    bystander.stillWorks();
}

TEST_CASE("garbage and wrong paths on the WebSocket port are refused") {
    ServerProcess server;
    Bystander bystander(server);
    {
        RawSocket raw(server.wsPort());
        raw.send(std::string(4096, '\x7f') + "\r\n\r\n");
        CHECK(raw.closedByPeer());
    }
    WsClient wrong(server.wsUrl().replace(server.wsUrl().find("/pushwire/ws"), 12, "/elsewhere"));
    CHECK_FALSE(wrong.connected());
    CHECK(wrong.failStatus() == 404);
    auto plain = httplib::Client("127.0.0.1", server.wsPort()).Get("/pushwire/ws");
    REQUIRE(plain);
    CHECK(plain->status == 426);
    bystander.stillWorks();
}

}  // namespace bad_input_test
