#include "auth/client_id.hpp"

#include <catch2/catch.hpp>

#include "front/http_request.hpp"

namespace client_id_test {

using namespace pushwire::server;

TEST_CASE("a session's client id is the first 32 hex digits of its SHA-256, the same every time") {
    // printf '%s' 0123456789abcdef0123456789abcdef | sha256sum
    auto id = clientIdOfSession("0123456789abcdef0123456789abcdef");
    REQUIRE(id);
    CHECK(id.value() == "3eb1bd439947eb762998e566ccc2e099");
    CHECK(clientIdOfSession("0123456789abcdef0123456789abcdef").value() == id.value());
    CHECK(clientIdOfSession("0123456789abcdef0123456789abcdee").value() != id.value());
}

TEST_CASE("a malformed session is refused, and without one the ids are random and 32 hex digits") {
    CHECK_FALSE(clientIdOfSession("short"));
    CHECK_FALSE(clientIdOfSession(std::string(129, 'a')));
    CHECK_FALSE(clientIdOfSession("0123456789abcdef0123456789abcde!"));
    CHECK(clientIdOfSession(std::string(128, 'A')));
    const std::string a = randomClientId(), b = randomClientId();
    CHECK(a.size() == 32);
    CHECK(a.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(a != b);
}

}  // namespace client_id_test
