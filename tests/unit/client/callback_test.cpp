#include "core/callback.hpp"

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

using pushwire::client::Callback;

TEST_CASE("a callback runs what it holds, moves without copying it, and destroys it once") {
    auto counted = std::make_shared<int>(0);  // use_count: how many copies of the capture live
    std::vector<std::string> calls;
    {
        Callback<void(const std::string&)> first = [counted, &calls](const std::string& s) { calls.push_back(s); };
        CHECK(counted.use_count() == 2);
        CHECK(first);
        first("a");
        Callback<void(const std::string&)> second = std::move(first);
        CHECK_FALSE(first);  // NOLINT(bugprone-use-after-move): moved-from is empty, as documented
        CHECK(counted.use_count() == 2);
        second("b");
        Callback<void(const std::string&)> third;
        CHECK_FALSE(third);
        third = std::move(second);
        third("c");
        third = nullptr;
        CHECK_FALSE(third);
        CHECK(counted.use_count() == 1);  // destroyed when replaced, not later
    }
    CHECK(calls == std::vector<std::string>{"a", "b", "c"});
    Callback<int(int)> twice = [](int x) { return 2 * x; };
    CHECK(twice(21) == 42);
}
