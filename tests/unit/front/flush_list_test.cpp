#include "front/flush_list.hpp"

#include <catch2/catch.hpp>

using pushwire::server::FlushList;

namespace {
struct Target {
    bool listed = false;
    bool flushListed() const { return listed; }
    void setFlushListed(bool value) { listed = value; }
};
}  // namespace

TEST_CASE("a connection written many times in one turn is listed for the end of the turn once") {
    FlushList<Target> list;
    auto a = std::make_shared<Target>();
    auto b = std::make_shared<Target>();
    CHECK(list.add(a));  // the first of the turn: the caller schedules the flush
    CHECK_FALSE(list.add(b));
    CHECK_FALSE(list.add(a));
    CHECK_FALSE(list.add(a));
    auto taken = list.take();
    REQUIRE(taken.size() == 2);
    CHECK(taken[0] == a);
    CHECK(taken[1] == b);
    CHECK(list.empty());
    SECTION("and once taken, a new write lists it anew") {
        CHECK_FALSE(a->listed);
        CHECK(list.add(a));
        CHECK(list.take().size() == 1);
    }
}
