#include "pushwire/protocol/sse.hpp"

#include <catch2/catch.hpp>

namespace sse_test {

using namespace pushwire::protocol;

TEST_CASE("an SSE event has event, id and data lines and ends with a blank line") {
    CHECK(sseEvent("gap", "e~c@1", "{}") == "event: gap\nid: e~c@1\ndata: {}\n\n");
    CHECK(sseEvent("", "", "x") == "data: x\n\n");
}

TEST_CASE("SSE data with line breaks becomes several data lines") {
    CHECK(sseEvent("", "", "a\nb\r\nc\rd") == "data: a\ndata: b\ndata: c\ndata: d\n\n");
    CHECK(sseEvent("", "", "") == "data: \n\n");
    CHECK(sseEvent("", "", "end\n") == "data: end\ndata: \n\n");
}

TEST_CASE("SSE comments and retry lines") {
    CHECK(sseComment("hb") == ": hb\n\n");
    CHECK(sseRetry(2000) == "retry: 2000\n\n");
}

}  // namespace sse_test
