// A repeating timer for the transports' heartbeats: every interval it calls `beat` with
// the wall-clock time in ms. Loop thread only; stops when destroyed or stopped.
#pragma once

#include <asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>

namespace pushwire::server {

class Heartbeat {
public:
    Heartbeat(asio::io_context& io, std::chrono::milliseconds interval, std::function<void(std::int64_t)> beat)
        : timer_(io), interval_(interval), beat_(std::move(beat)) {
        schedule();
    }
    ~Heartbeat() { stop(); }
    void stop() { timer_.cancel(); }

private:
    void schedule() {
        timer_.expires_after(interval_);
        timer_.async_wait([this](const std::error_code& ec) {
            if (ec) return;
            beat_(std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count());
            schedule();
        });
    }

    asio::steady_timer timer_;
    std::chrono::milliseconds interval_;
    std::function<void(std::int64_t)> beat_;
};

}  // namespace pushwire::server
