#include "auth/rate_limiter.hpp"

#include <algorithm>
#include <cmath>

namespace pushwire::server {

bool RateLimiter::take(const std::string& key, std::int64_t nowMs, std::int64_t* retryAfterMs) {
    if (rate_ <= 0) return true;
    auto [it, added] = buckets_.try_emplace(key, Bucket{burst_, nowMs});
    Bucket& bucket = it->second;
    if (!added) {
        bucket.tokens = std::min(burst_, bucket.tokens + static_cast<double>(nowMs - bucket.lastMs) * rate_ / 1000.0);
        bucket.lastMs = nowMs;
    }
    if (bucket.tokens >= 1.0) {
        bucket.tokens -= 1.0;
        return true;
    }
    if (retryAfterMs) *retryAfterMs = static_cast<std::int64_t>(std::ceil((1.0 - bucket.tokens) * 1000.0 / rate_));
    return false;
}

void RateLimiter::sweep(std::int64_t nowMs) {
    for (auto it = buckets_.begin(); it != buckets_.end();) {
        const double tokens = it->second.tokens + static_cast<double>(nowMs - it->second.lastMs) * rate_ / 1000.0;
        it = tokens >= burst_ ? buckets_.erase(it) : std::next(it);
    }
}

}  // namespace pushwire::server
