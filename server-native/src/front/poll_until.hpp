// A wait for a condition no callback announces: check it now and then every `every` until it
// holds or `deadline` passes, then call `done` once (either way; `ready()` tells which).
// Loop thread only. The pending timer wait owns the step, so nothing outlives `done`; if the
// io_context stops first, `done` is never called. `ready` may run after its owner is gone:
// capture what tells it so (the broker's `alive` flag).
#pragma once

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>

namespace pushwire::server {

namespace detail {
struct PollStep {
    asio::steady_timer timer;
    std::chrono::milliseconds every;
    std::chrono::steady_clock::time_point deadline;
    std::function<bool()> ready;
    std::function<void()> done;
};

inline void pollStep(const std::shared_ptr<PollStep>& step) {
    if (step->ready() || std::chrono::steady_clock::now() >= step->deadline) {
        step->done();
        return;
    }
    step->timer.expires_after(step->every);
    step->timer.async_wait([step](const std::error_code& ec) {
        if (!ec) pollStep(step);
    });
}
}  // namespace detail

inline void pollUntil(asio::io_context& io, std::chrono::milliseconds every,
                      std::chrono::steady_clock::time_point deadline, std::function<bool()> ready,
                      std::function<void()> done) {
    detail::pollStep(std::shared_ptr<detail::PollStep>(
        new detail::PollStep{asio::steady_timer(io), every, deadline, std::move(ready), std::move(done)}));
}

}  // namespace pushwire::server
