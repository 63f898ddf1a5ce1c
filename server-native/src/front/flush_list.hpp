// The connections to write at the end of this turn of the loop, each listed once however
// many writes it had this turn. Writing each connection once per turn, with everything
// queued for it, is what makes a fan-out cheap; listing one twice would send its queue
// twice (the bug this type exists to prevent: a connection flushed early by flushNow()
// and written again stayed listed twice).
//
// T provides `bool flushListed() const` and `void setFlushListed(bool)`; only this list
// sets it. Threading: the loop thread.
#pragma once

#include <memory>
#include <utility>
#include <vector>

namespace pushwire::server {

template <typename T>
class FlushList {
public:
    // Lists `target` unless it is listed already. True when it was the first of the
    // turn: the caller then arranges for take() at the end of the turn.
    bool add(const std::shared_ptr<T>& target) {
        if (target->flushListed()) return false;
        target->setFlushListed(true);
        entries_.push_back(target);
        return entries_.size() == 1;
    }

    // Everything listed, in the order listed, into `out` (emptied first); the list is
    // empty afterwards and a target written again is listed anew. The two vectors trade
    // places, so a caller that keeps `out` between turns allocates nothing once both
    // have grown to a turn's size.
    void take(std::vector<std::shared_ptr<T>>& out) {
        out.clear();
        out.swap(entries_);
        for (auto& target : out) target->setFlushListed(false);
    }
    std::vector<std::shared_ptr<T>> take() {
        std::vector<std::shared_ptr<T>> out;
        take(out);
        return out;
    }

    bool empty() const { return entries_.empty(); }
    std::size_t size() const { return entries_.size(); }

private:
    std::vector<std::shared_ptr<T>> entries_;
};

}  // namespace pushwire::server
