#include "front/http_head.hpp"

#include <catch2/catch.hpp>
#include <websocketpp/http/request.hpp>

namespace http_head_test {

using namespace pushwire::server;

namespace {
int statusOf(const std::string& head) {
    auto result = parseRequestHead(head, 1000);
    if (auto* error = std::get_if<HeadError>(&result)) return error->status;
    return 0;
}
}  // namespace

TEST_CASE("the head's end is found once, however the bytes arrive") {
    const std::string request = "GET / HTTP/1.1\r\nHost: x\r\n\r\nNEXT";
    HeadScan scan;
    std::optional<std::size_t> end;
    for (std::size_t n = 1; n <= request.size() && !end; ++n) end = scan.find(std::string_view(request).substr(0, n));
    REQUIRE(end);
    CHECK(*end == request.size() - 4);
}

TEST_CASE("heads RFC 9112 refuses are refused") {
    const std::string start = "POST /x HTTP/1.1\r\nHost: x\r\n";
    CHECK(statusOf(start + "Content-Length: 25\r\n\r\n") == 0);
    CHECK(statusOf(start + "Content-Length: 25\r\nContent-Length: 5\r\n\r\n") == 400);
    CHECK(statusOf(start + "Content-Length: 25, 25\r\n\r\n") == 400);
    CHECK(statusOf(start + "Content-Length: +25\r\n\r\n") == 400);
    CHECK(statusOf(start + "Content-Length: 25abc\r\n\r\n") == 400);
    CHECK(statusOf(start + "Content-Length: 1001\r\n\r\n") == 413);
    CHECK(statusOf(start + "Transfer-Encoding: chunked\r\n\r\n") == 411);
    CHECK(statusOf("GET /x HTTP/2.0\r\nHost: x\r\n\r\n") == 400);
    CHECK(statusOf("GET /x HTTP/1.1\r\nHost: x\r\nA: b\rc\r\n\r\n") == 400);
    static const char kNul[] = "GET /x HTTP/1.1\r\nHost: x\r\nA: b\0c\r\n\r\n";
    CHECK(statusOf(std::string(kNul, sizeof kNul - 1)) == 400);
    CHECK(statusOf("GET /x HTTP/1.1\r\n\r\n") == 400);  // no Host
}

TEST_CASE("a head says how its connection goes on") {
    auto head = [](const std::string& text) {
        auto result = parseRequestHead(text, 1000);
        REQUIRE(std::holds_alternative<RequestHead>(result));
        return std::move(std::get<RequestHead>(result));
    };
    CHECK(head("GET / HTTP/1.1\r\nHost: x\r\n\r\n").keepAlive);
    CHECK_FALSE(head("GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, close\r\n\r\n").keepAlive);
    CHECK_FALSE(head("GET / HTTP/1.0\r\nHost: x\r\n\r\n").keepAlive);
    CHECK(head("GET / HTTP/1.0\r\nHost: x\r\nConnection: Keep-Alive\r\n\r\n").keepAlive);
    CHECK(head("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n").head);
    CHECK(head("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n").expectContinue);
}

}  // namespace http_head_test
