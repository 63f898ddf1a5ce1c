// What a connection has yet to write, in order: chunks that point into buffers their
// owners keep alive (a fan-out frame shared by every connection it goes to, or bytes of
// this connection's own).
//
// Threading: the loop thread. A vector, not a deque: libstdc++'s deque allocates ~600
// bytes on construction, which every idle connection would carry. Queues hold a chunk or
// two, except under load, where erasing from the front is still cheap next to the write.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace pushwire::server {

class WriteQueue {
public:
    // `bytes`..`bytes + size` stays valid while `owner` lives.
    void push(const char* bytes, std::size_t size, std::shared_ptr<const void> owner);
    void push(std::string bytes);

    bool empty() const { return chunks_.empty(); }
    std::size_t bytes() const { return bytes_; }
    // Bytes taken off the front since the queue was made: moves whenever the peer reads.
    std::uint64_t consumedTotal() const { return consumedTotal_; }

    // The queued bytes as iovecs, at most `max`; returns how many.
    std::size_t gather(iovec* parts, std::size_t max) const;
    // `written` bytes left: drops them from the front.
    void consume(std::size_t written);
    void clear();

private:
    struct Chunk {
        const char* bytes;
        std::size_t size;
        std::shared_ptr<const void> owner;
    };
    std::vector<Chunk> chunks_;
    std::size_t bytes_ = 0;
    std::uint64_t consumedTotal_ = 0;
};

}  // namespace pushwire::server
