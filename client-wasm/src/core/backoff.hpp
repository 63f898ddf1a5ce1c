// Exponential backoff with full jitter: attempt n waits uniform(0, min(max, initial*2^n)).
// Pure; the caller supplies the random number.
#pragma once

#include <algorithm>
#include <cstdint>

namespace pushwire::client {

class Backoff {
public:
    Backoff(int initialMs, int maxMs) : initialMs_(std::max(1, initialMs)), maxMs_(std::max(initialMs_, maxMs)) {}

    // The ceiling for the next attempt (before jitter).
    int ceilingMs() const {
        std::int64_t ceiling = static_cast<std::int64_t>(initialMs_) << std::min(attempt_, 20);
        return static_cast<int>(std::min<std::int64_t>(ceiling, maxMs_));
    }
    // random01 in [0, 1). Advances the attempt count.
    int nextDelayMs(double random01) {
        int delay = static_cast<int>(random01 * ceilingMs());
        ++attempt_;
        return delay;
    }
    void reset() { attempt_ = 0; }

private:
    int initialMs_;
    int maxMs_;
    int attempt_ = 0;
};

}  // namespace pushwire::client
