// Gzip of static files, made on the fly the first time a file is asked for and kept for
// the next clients: at most kMaxBytes of compressed text in all, the least recently used
// going first, each entry valid while its file keeps its size and modification time (a
// rebuilt file is compressed again). Files above kMaxFileBytes are sent as they are.
//
// Threading: the loop thread.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>

namespace pushwire::server {

class GzipCache {
public:
    static constexpr std::size_t kMaxBytes = 32 * 1024 * 1024;
    static constexpr std::size_t kMaxFileBytes = 8 * 1024 * 1024;
    static constexpr std::size_t kMinFileBytes = 256;  // smaller: gzip's header eats the gain

    // The gzip of `path` (whose contents are `text`, and `info` its stat), or null when
    // compressing does not pay (the result is not smaller).
    std::shared_ptr<const std::string> get(const std::string& path, const struct stat& info, const std::string& text);

    std::uint64_t compressed() const { return compressed_; }  // files gzipped
    std::uint64_t hits() const { return hits_; }              // answers from the cache
    std::size_t bytes() const { return bytes_; }

private:
    struct Entry {
        std::int64_t size = 0;
        std::int64_t mtimeNs = 0;
        std::shared_ptr<const std::string> gzip;  // null: not worth it
        std::list<std::string>::iterator use;
    };
    void evict();
    std::unordered_map<std::string, Entry> entries_;
    std::list<std::string> uses_;  // most recent first
    std::size_t bytes_ = 0;
    std::uint64_t compressed_ = 0;
    std::uint64_t hits_ = 0;
};

// Gzip (RFC 1952) of `text` at zlib level 6.
std::string gzipText(const std::string& text);

}  // namespace pushwire::server
