#include "front/flush_list.hpp"

#include <catch2/catch.hpp>

namespace flush_list_test {

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

TEST_CASE("taking into a kept vector replaces what it held and lists anew, turn after turn") {
    FlushList<Target> list;
    auto a = std::make_shared<Target>();
    auto b = std::make_shared<Target>();
    std::vector<std::shared_ptr<Target>> kept;
    for (int turn = 0; turn < 3; ++turn) {
        CHECK(list.add(a));
        CHECK_FALSE(list.add(b));
        CHECK_FALSE(list.add(a));
        list.take(kept);
        REQUIRE(kept.size() == 2);  // this turn's only: the last turn's were cleared
        CHECK(kept[0] == a);
        CHECK(kept[1] == b);
        CHECK_FALSE(a->listed);
        CHECK_FALSE(b->listed);
        CHECK(list.empty());
    }
}

}  // namespace flush_list_test
