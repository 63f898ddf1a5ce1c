#include "front/http_request.hpp"

#include <catch2/catch.hpp>

namespace http_request_test {

using namespace pushwire::server;

TEST_CASE("targets split into a decoded path and query pairs") {
    std::string path;
    std::vector<std::pair<std::string, std::string>> query;
    REQUIRE(splitTarget("/a%20b?channel=x&channel=y&since=e~x%401&flag&sp=a+b", path, query));
    CHECK(path == "/a b");
    REQUIRE(query.size() == 5);
    CHECK(query[0] == std::make_pair(std::string("channel"), std::string("x")));
    CHECK(query[1].second == "y");
    CHECK(query[2].second == "e~x@1");
    CHECK(query[3] == std::make_pair(std::string("flag"), std::string()));
    CHECK(query[4].second == "a b");
}

TEST_CASE("malformed percent escapes are refused") {
    std::string path;
    std::vector<std::pair<std::string, std::string>> query;
    CHECK_FALSE(splitTarget("/x?a=%G1", path, query));
    CHECK_FALSE(splitTarget("/x?a=%4", path, query));
    CHECK_FALSE(splitTarget("/%", path, query));
}

TEST_CASE("headers are found regardless of case") {
    HttpRequest request;
    request.headers = {{"Last-Event-ID", "e~c@3"}};
    CHECK(request.header("last-event-id") == "e~c@3");
    CHECK(request.header("missing").empty());
}

}  // namespace http_request_test
