// A flag that outlives its owner: the owner ends it when it goes, and what it left behind
// (a timer, a request in flight, a Subscription) holds a copy and checks it before
// touching the owner. Single-threaded, as the client is.
//
// Not std::shared_ptr<bool>: in the browser module, shared_ptr's control block brings
// along the prebuilt C++ library's RTTI support (its vtable has a type_info), 2.5 KB of
// code that nothing else needs.
#pragma once

namespace pushwire {

class Liveness {
public:
    Liveness() : state_(new State) {}
    Liveness(const Liveness& other) noexcept : state_(other.state_) { ++state_->holders; }
    Liveness& operator=(const Liveness& other) noexcept {
        ++other.state_->holders;  // first: self-assignment keeps its count
        release();
        state_ = other.state_;
        return *this;
    }
    ~Liveness() { release(); }

    bool alive() const { return state_->alive; }
    void end() { state_->alive = false; }

private:
    struct State {
        int holders = 1;
        bool alive = true;
    };
    void release() {
        if (--state_->holders == 0) destroy(state_);
    }
    // Out of line: GCC's use-after-free check cannot follow the count, and warned of a
    // delete it saw inlined on a path the count rules out.
    [[gnu::noinline]] static void destroy(State* state) { delete state; }
    State* state_;
};

}  // namespace pushwire
