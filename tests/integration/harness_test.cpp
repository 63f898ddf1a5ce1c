// The harness itself: a server that ends badly fails the test case that owned it, and
// what it reads in a server's stderr and metrics is read right.
#include <signal.h>

#include <catch2/catch.hpp>

#include "server_process.hpp"

using namespace pushwire::test;

namespace harness_test {

// [!shouldfail]: Catch2 counts this case as passed only if it fails, here through the
// check ServerProcess makes when it goes. A crash at shutdown is seen, not dropped.
TEST_CASE("the harness fails the test case whose server crashed", "[!shouldfail]") {
    ServerProcess server;
    server.signal(SIGSEGV);
    REQUIRE(server.waitExit(10s));
}

TEST_CASE("the harness finds sanitizer reports in a server's stderr, and only those") {
    CHECK(sanitizerReport("pushwire-server listening\nrefused status=400\n").empty());
    const std::string asan =
        "info line\n==123==ERROR: AddressSanitizer: heap-use-after-free on address 0x1\n    #0 0x1 in f x.cpp:3\n";
    CHECK(sanitizerReport(asan).rfind("==123==ERROR: AddressSanitizer: heap-use-after-free", 0) == 0);
    CHECK_FALSE(sanitizerReport("src/hub/hub.cpp:10:5: runtime error: signed integer overflow\n").empty());
    CHECK_FALSE(sanitizerReport("==9==ERROR: LeakSanitizer: detected memory leaks\n").empty());
}

TEST_CASE("the harness reads one metric series exactly, labels and all") {
    const std::string text =
        "# TYPE pushwire_limit_hits_total counter\n"
        "pushwire_limit_hits_total{limit=\"channels\"} 12\n"
        "pushwire_limit_hits_total{limit=\"channel_ttl\"} 1\n"
        "pushwire_broker_channels 3\n";
    CHECK(metricValue(text, "pushwire_limit_hits_total{limit=\"channels\"}") == 12);
    CHECK(metricValue(text, "pushwire_limit_hits_total{limit=\"channel_ttl\"}") == 1);
    CHECK(metricValue(text, "pushwire_broker_channels") == 3);
    CHECK_FALSE(metricValue(text, "pushwire_broker"));
    CHECK_FALSE(metricValue(text, "pushwire_limit_hits_total{limit=\"publish_rate\"}"));
}

}  // namespace harness_test
