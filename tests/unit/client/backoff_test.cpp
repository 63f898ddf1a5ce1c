#include "core/backoff.hpp"

#include <catch2/catch.hpp>

using pushwire::client::Backoff;

TEST_CASE("backoff doubles its ceiling up to the maximum, with full jitter below it") {
    Backoff backoff(100, 1000);
    CHECK(backoff.ceilingMs() == 100);
    CHECK(backoff.nextDelayMs(0.0) == 0);
    CHECK(backoff.ceilingMs() == 200);
    CHECK(backoff.nextDelayMs(0.5) == 100);
    CHECK(backoff.ceilingMs() == 400);
    backoff.nextDelayMs(0.99);
    backoff.nextDelayMs(0.99);
    CHECK(backoff.ceilingMs() == 1000);
    for (int i = 0; i < 100; ++i) {
        int delay = backoff.nextDelayMs(0.999999);
        CHECK(delay >= 0);
        CHECK(delay < 1000);
    }
    backoff.reset();
    CHECK(backoff.ceilingMs() == 100);
}
