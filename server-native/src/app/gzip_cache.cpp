#include "app/gzip_cache.hpp"

#include <zlib.h>

#include <stdexcept>

namespace pushwire::server {

std::string gzipText(const std::string& text) {
    z_stream stream{};
    // 15 window bits + 16: a gzip header and trailer instead of zlib's.
    if (deflateInit2(&stream, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        throw std::runtime_error("deflateInit2 failed");
    }
    std::string out(deflateBound(&stream, static_cast<uLong>(text.size())), '\0');
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
    stream.avail_in = static_cast<uInt>(text.size());
    stream.next_out = reinterpret_cast<Bytef*>(out.data());
    stream.avail_out = static_cast<uInt>(out.size());
    const int result = deflate(&stream, Z_FINISH);
    out.resize(stream.total_out);
    deflateEnd(&stream);
    if (result != Z_STREAM_END) throw std::runtime_error("deflate failed");
    return out;
}

std::shared_ptr<const std::string> GzipCache::get(const std::string& path, const struct stat& info,
                                                  const std::string& text) {
    const std::int64_t mtimeNs =
        static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1000000000 + static_cast<std::int64_t>(info.st_mtim.tv_nsec);
    auto it = entries_.find(path);
    if (it != entries_.end()) {
        if (it->second.size == static_cast<std::int64_t>(info.st_size) && it->second.mtimeNs == mtimeNs) {
            ++hits_;
            uses_.splice(uses_.begin(), uses_, it->second.use);
            return it->second.gzip;
        }
        if (it->second.gzip) bytes_ -= it->second.gzip->size();
        uses_.erase(it->second.use);
        entries_.erase(it);
    }
    ++compressed_;
    std::shared_ptr<const std::string> gzip;
    if (std::string made = gzipText(text); made.size() < text.size()) {
        gzip = std::make_shared<const std::string>(std::move(made));
    }
    uses_.push_front(path);
    Entry entry{static_cast<std::int64_t>(info.st_size), mtimeNs, gzip, uses_.begin()};
    if (gzip) bytes_ += gzip->size();
    entries_.emplace(path, std::move(entry));
    evict();
    return gzip;
}

void GzipCache::evict() {
    // The entry just made stays even if it alone is over the bound (it is at most
    // kMaxFileBytes): the answer holds it anyway.
    while ((bytes_ > kMaxBytes || entries_.size() > 4096) && uses_.size() > 1) {
        auto it = entries_.find(uses_.back());
        if (it->second.gzip) bytes_ -= it->second.gzip->size();
        entries_.erase(it);
        uses_.pop_back();
    }
}

}  // namespace pushwire::server
