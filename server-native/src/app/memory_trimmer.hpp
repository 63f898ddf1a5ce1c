// Giving freed memory back to the system after a flood. glibc's malloc keeps what the
// process freed for reuse and returns on its own only what lies at the top of its heap;
// after a flood of small objects (a million subscriptions, a ping flood's queued pongs,
// channels dropped by their TTL) most of the peak stays resident although free.
// malloc_trim(0) hands the free pages back (madvise); its cost grows with what is free
// (about 0.2 s after a million channels went), not with what is in use (microseconds).
//
// So it runs only after the server shed a lot: every sweep (about a second) is told the
// server's footprint, an estimate of what it holds from its own counts (connections,
// subscriptions, channels, history, bytes queued to clients); once that has fallen by
// kStep from its peak since the last trim, it trims.
//
// Threading: the loop thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace pushwire::server {

class MemoryTrimmer {
public:
    static constexpr std::size_t kStep = 16 * 1024 * 1024;

    // Called about once a second with the footprint now; trims when the server shed a lot.
    void sweep(std::size_t footprintBytes);

    std::uint64_t trims() const { return trims_; }
    double trimSeconds() const { return trimSeconds_; }

    // This process's resident memory, from /proc/self/statm (0 if it cannot be read).
    static std::size_t residentBytes();

private:
    std::size_t peak_ = 0;  // the largest footprint since the last trim
    std::uint64_t trims_ = 0;
    double trimSeconds_ = 0;
};

}  // namespace pushwire::server
