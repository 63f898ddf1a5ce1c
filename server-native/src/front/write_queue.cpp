#include "front/write_queue.hpp"

#include <algorithm>

namespace pushwire::server {

void WriteQueue::push(const char* bytes, std::size_t size, std::shared_ptr<const void> owner) {
    if (size == 0) return;
    chunks_.push_back(Chunk{bytes, size, std::move(owner)});
    bytes_ += size;
}

void WriteQueue::push(std::string bytes) {
    auto owned = std::make_shared<const std::string>(std::move(bytes));
    const char* data = owned->data();
    const std::size_t size = owned->size();
    push(data, size, std::move(owned));
}

std::size_t WriteQueue::gather(iovec* parts, std::size_t max) const {
    std::size_t count = 0;
    for (; count < chunks_.size() && count < max; ++count) {
        parts[count].iov_base = const_cast<char*>(chunks_[count].bytes);
        parts[count].iov_len = chunks_[count].size;
    }
    return count;
}

void WriteQueue::consume(std::size_t written) {
    written = std::min(written, bytes_);
    bytes_ -= written;
    consumedTotal_ += written;
    std::size_t done = 0;
    while (done < chunks_.size() && written >= chunks_[done].size) written -= chunks_[done++].size;
    chunks_.erase(chunks_.begin(), chunks_.begin() + static_cast<std::ptrdiff_t>(done));
    if (!chunks_.empty() && written > 0) {
        chunks_.front().bytes += written;
        chunks_.front().size -= written;
    }
}

void WriteQueue::clear() {
    chunks_.clear();
    bytes_ = 0;
}

}  // namespace pushwire::server
