// Giving freed memory back to the system after a flood. glibc's malloc keeps what the
// process freed for reuse and returns on its own only what lies at the top of its heap;
// after a flood of small objects (a million subscriptions, a ping flood's queued pongs,
// channels dropped by their TTL) most of the peak stays resident although free.
// malloc_trim(0) hands the free pages back (madvise); its cost grows with what is free
// (about 0.2 s after a million channels went), not with what is in use (microseconds).
//
// So it runs only after the server shed a lot. Every sweep (about a second) is told the
// server's footprint, an estimate of what it holds from its own counts (connections,
// subscriptions, channels, history, bytes queued to clients), and the process's resident
// memory. It trims when either says there is a lot to give back:
// - the footprint fell by kStep from its peak since the last trim, or
// - resident memory exceeds the footprint by kStep more than it did at its least (at start,
//   or after a trim): memory held although free, or in use where the footprint does not
//   count it (a ping flood's queued pongs). This catches a flood that rose and fell
//   between two sweeps, which the footprint's peak never saw. While it stays so, it trims
//   again after 1, 2, 4 ... 64 sweeps, not every second: a trim during a flood gives back
//   little, the one after it all of it; a heap a trim cannot shrink costs one trim a minute.
// Threading: the loop thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace pushwire::server {

class MemoryTrimmer {
public:
    static constexpr std::size_t kStep = 16 * 1024 * 1024;

    // Called about once a second with the footprint and the resident memory now; trims when
    // the server shed a lot.
    void sweep(std::size_t footprintBytes, std::size_t residentBytes);

    std::uint64_t trims() const { return trims_; }
    double trimSeconds() const { return trimSeconds_; }

    // This process's resident memory, from /proc/self/statm (0 if it cannot be read).
    static std::size_t residentBytes();

private:
    static std::size_t excess(std::size_t footprint, std::size_t resident) {
        return resident > footprint ? resident - footprint : 0;
    }

    std::size_t peak_ = 0;                 // the largest footprint since the last trim
    std::optional<std::size_t> baseline_;  // the least resident memory beyond the footprint seen
    unsigned backoff_ = 1;                 // sweeps between two trims for held memory
    unsigned waited_ = 0;                  // sweeps since the last one
    std::uint64_t trims_ = 0;
    double trimSeconds_ = 0;
};

}  // namespace pushwire::server
