// Token buckets by key: `rate` a second, bursts up to `burst`. A key's bucket is dropped
// once full again (sweep()), so a flood of new keys costs nothing once it is over.
//
// Threading: the loop thread.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

namespace pushwire::server {

class RateLimiter {
public:
    // rate 0: no limit.
    RateLimiter(double rate, double burst) : rate_(rate), burst_(burst) {}

    // True when one more is allowed now; else `retryAfterMs` says when the next one is.
    bool take(const std::string& key, std::int64_t nowMs, std::int64_t* retryAfterMs);
    void sweep(std::int64_t nowMs);
    bool limited() const { return rate_ > 0; }
    double rate() const { return rate_; }
    std::size_t keys() const { return buckets_.size(); }

private:
    struct Bucket {
        double tokens;
        std::int64_t lastMs;
    };
    double rate_;
    double burst_;
    std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace pushwire::server
