#include "app/memory_trimmer.hpp"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace pushwire::server {

std::size_t MemoryTrimmer::residentBytes() {
    long pages = 0, resident = 0;
    FILE* statm = std::fopen("/proc/self/statm", "r");
    if (!statm) return 0;
    if (std::fscanf(statm, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(statm);
    return static_cast<std::size_t>(resident) * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

void MemoryTrimmer::sweep(std::size_t footprint, std::size_t resident) {
    if (footprint > peak_) peak_ = footprint;
    const std::size_t held = excess(footprint, resident);
    if (!baseline_ || held < *baseline_) baseline_ = held;
    const bool footprintFell = peak_ - footprint >= kStep;
    const bool heldGrew = resident != 0 && held - *baseline_ >= kStep;
    if (!heldGrew) {
        backoff_ = 1;
        waited_ = 0;
    } else {
        ++waited_;
    }
    if (!footprintFell && !(heldGrew && waited_ >= backoff_)) return;
    const auto start = std::chrono::steady_clock::now();
    malloc_trim(0);
    trimSeconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ++trims_;
    peak_ = footprint;
    if (heldGrew) {
        backoff_ = std::min(backoff_ * 2, 64u);
        waited_ = 0;
    }
    const std::size_t after = excess(footprint, residentBytes());
    if (after < *baseline_) baseline_ = after;
}

}  // namespace pushwire::server
