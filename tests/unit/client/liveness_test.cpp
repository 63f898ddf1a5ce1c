#include "pushwire/liveness.hpp"

#include <catch2/catch.hpp>
#include <functional>
#include <memory>
#include <vector>

using pushwire::Liveness;

TEST_CASE("every copy of a liveness sees its end, and the copies outlive the owner") {
    std::vector<std::function<bool()>> leftBehind;
    {
        auto owner = std::make_unique<Liveness>();
        Liveness copy = *owner;
        leftBehind.push_back([copy] { return copy.alive(); });
        Liveness assigned;
        assigned = copy;
        leftBehind.push_back([assigned] { return assigned.alive(); });
        CHECK(leftBehind[0]());
        CHECK(leftBehind[1]());
        owner->end();
        owner.reset();  // the owner's copy goes; the callbacks' keep the flag
        CHECK_FALSE(copy.alive());
    }
    CHECK_FALSE(leftBehind[0]());
    CHECK_FALSE(leftBehind[1]());
    leftBehind.clear();  // the last holders: freed (ASan would report a leak or a double free)
}

TEST_CASE("a liveness assigned to itself or another stays counted right") {
    Liveness a;
    Liveness b;
    b.end();
    Liveness& alias = a;
    a = alias;
    CHECK(a.alive());
    a = b;
    CHECK_FALSE(a.alive());
    b = Liveness();
    CHECK(b.alive());
    CHECK_FALSE(a.alive());
}
