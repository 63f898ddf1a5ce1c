#include "app/static_files.hpp"

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string_view>

namespace pushwire::server {

using protocol::ErrorCode;

std::string contentTypeFor(const std::string& path) {
    auto dot = path.rfind('.');
    std::string ext = dot == std::string::npos ? "" : path.substr(dot + 1);
    if (ext == "html" || ext == "htm") return "text/html; charset=utf-8";
    if (ext == "js" || ext == "mjs") return "text/javascript; charset=utf-8";
    if (ext == "wasm") return "application/wasm";
    if (ext == "css") return "text/css; charset=utf-8";
    if (ext == "json" || ext == "map") return "application/json";
    if (ext == "svg") return "image/svg+xml";
    if (ext == "png") return "image/png";
    if (ext == "ico") return "image/x-icon";
    if (ext == "txt" || ext == "md") return "text/plain; charset=utf-8";
    return "application/octet-stream";
}

namespace {

std::optional<std::string> realPath(const std::string& path) {
    char resolved[PATH_MAX];
    if (::realpath(path.c_str(), resolved) == nullptr) return std::nullopt;
    return std::string(resolved);
}

// `path` (resolved) is `root` (resolved) or below it.
bool inside(const std::string& path, const std::string& root) {
    if (root == "/") return true;
    return path == root ||
           (path.size() > root.size() && path.compare(0, root.size(), root) == 0 && path[root.size()] == '/');
}

// Accept-Encoding names gzip with a q above 0 (RFC 9110 §12.5.3); "*" counts too.
bool acceptsGzip(std::string_view header) {
    std::size_t start = 0;
    while (start < header.size()) {
        std::size_t end = header.find(',', start);
        if (end == std::string_view::npos) end = header.size();
        std::string_view item = header.substr(start, end - start);
        start = end + 1;
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        const std::size_t semicolon = item.find(';');
        std::string_view coding = item.substr(0, semicolon);
        while (!coding.empty() && coding.back() == ' ') coding.remove_suffix(1);
        if (coding != "gzip" && coding != "x-gzip" && coding != "*") continue;
        if (semicolon == std::string_view::npos) return true;
        std::string_view params = item.substr(semicolon + 1);
        const std::size_t q = params.find("q=");
        if (q == std::string_view::npos) return true;
        std::string_view value = params.substr(q + 2);
        return !(value.rfind("0", 0) == 0 && value.find_first_of("123456789") == std::string_view::npos);
    }
    return false;
}

// A segment of the path (between slashes) starts with a dot: a hidden file or folder
// (.env, .git/, .htpasswd), never meant to be served.
bool hasDotSegment(std::string_view path) {
    return path.find("/.") != std::string_view::npos || (!path.empty() && path.front() == '.');
}

// Worth compressing: text, and wasm (it shrinks by half or more).
bool compressible(const std::string& contentType) {
    return contentType.rfind("text/", 0) == 0 || contentType == "application/json" ||
           contentType == "application/wasm" || contentType == "image/svg+xml";
}

std::string httpDate(std::time_t when) {
    std::tm utc{};
    gmtime_r(&when, &utc);
    char text[64];
    std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &utc);
    return text;
}

// If-Modified-Since names a time at or after the file's (seconds: HTTP dates have no less).
bool notModifiedSince(std::string_view header, std::time_t mtime) {
    if (header.empty()) return false;
    std::tm tm{};
    const std::string text(header);
    const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (end == nullptr) return false;
    return mtime <= timegm(&tm);
}

// If-None-Match lists the tag (or is "*").
bool etagMatches(std::string_view header, std::string_view tag) {
    if (header.empty()) return false;
    if (header.find('*') != std::string_view::npos) return true;
    return header.find(tag) != std::string_view::npos;
}

}  // namespace

bool hashedAsset(std::string_view path) {
    const std::size_t assets = path.rfind("/assets/");
    if (assets == std::string_view::npos) return false;
    std::string_view name = path.substr(path.rfind('/') + 1);
    const std::size_t lastDot = name.rfind('.');
    if (lastDot == std::string_view::npos || lastDot == 0) return false;
    const std::string_view stem = name.substr(0, lastDot);
    const std::size_t mark = stem.find_last_of("-.");
    if (mark == std::string_view::npos) return false;
    const std::string_view hash = stem.substr(mark + 1);
    if (hash.size() < 8 || hash.size() > 64) return false;
    bool distinctive = false;
    for (char c : hash) {
        const bool digit = c >= '0' && c <= '9', upper = c >= 'A' && c <= 'Z', lower = c >= 'a' && c <= 'z';
        if (!digit && !upper && !lower && c != '_') return false;
        distinctive = distinctive || digit || upper;
    }
    return distinctive;
}

void serveStatic(const StaticFiles& files, HttpRequest& request, const HttpConnectionPtr& connection) {
    const std::string& webRoot = files.root;
    if (webRoot.empty() || request.path.rfind("/pushwire/", 0) == 0) {
        connection->respondError(ErrorCode::NotFound, "no such URL: " + request.path);
        return;
    }
    if (request.method != "GET" && request.method != "HEAD") {
        connection->respondError(ErrorCode::MethodNotAllowed, "expected GET, got " + request.method);
        return;
    }
    const std::string& path = request.path;
    if (path.empty() || path[0] != '/' || path.find("/..") != std::string::npos ||
        path.find('\0') != std::string::npos || path.find('\\') != std::string::npos ||
        (!files.dotfiles && hasDotSegment(path))) {
        connection->respondError(ErrorCode::NotFound, "no such file: " + path);
        return;
    }
    std::string file = webRoot + path;
    struct stat info {};
    if (::stat(file.c_str(), &info) == 0 && S_ISDIR(info.st_mode)) {
        if (file.back() != '/') file += '/';
        file += "index.html";
    }
    // Where the name really leads, links resolved: it must stay below the root (a link
    // inside the root to /etc would otherwise serve /etc/shadow).
    auto resolved = realPath(file);
    auto root = realPath(webRoot);
    if (!resolved || !root || (!files.followSymlinks && !inside(*resolved, *root))) {
        connection->respondError(ErrorCode::NotFound, "no such file: " + path);
        return;
    }
    // A link with a plain name may lead to a hidden file below the root: what it leads to
    // counts, too.
    if (!files.dotfiles && inside(*resolved, *root) &&
        hasDotSegment(std::string_view(*resolved).substr(*root == "/" ? 0 : root->size()))) {
        connection->respondError(ErrorCode::NotFound, "no such file: " + path);
        return;
    }
    if (::stat(resolved->c_str(), &info) != 0 || !S_ISREG(info.st_mode)) {
        connection->respondError(ErrorCode::NotFound, "no such file: " + path);
        return;
    }
    // A precompressed sibling (name.gz, made by ./build.sh for the module and the pages)
    // is sent to clients that take gzip, if it is as new as the file; else text is
    // compressed here (and kept for the next client).
    const std::string contentType = contentTypeFor(*resolved);
    const bool gzipOk = acceptsGzip(request.header("Accept-Encoding"));
    std::string sent = *resolved;
    bool precompressed = false;
    struct stat gzInfo {};
    const std::string gz = *resolved + ".gz";
    if (gzipOk && ::stat(gz.c_str(), &gzInfo) == 0 && S_ISREG(gzInfo.st_mode) && gzInfo.st_mtime >= info.st_mtime) {
        sent = gz;
        precompressed = true;
    }
    const bool compressHere = gzipOk && !precompressed && compressible(contentType) &&
                              static_cast<std::size_t>(info.st_size) >= GzipCache::kMinFileBytes &&
                              static_cast<std::size_t>(info.st_size) <= GzipCache::kMaxFileBytes;
    // The tag names the file's version (size and time of the file itself) and its
    // encoding: a cache keeps the gzip and the plain answers apart.
    const bool gzipped = precompressed || compressHere;
    char tag[80];
    std::snprintf(tag, sizeof tag, "\"%llx-%llx%s\"", static_cast<unsigned long long>(info.st_size),
                  static_cast<unsigned long long>(info.st_mtim.tv_sec) * 1000000000ull +
                      static_cast<unsigned long long>(info.st_mtim.tv_nsec),
                  gzipped ? "-gz" : "");
    // A content-hashed name never changes its bytes: caches keep it a year without asking.
    // Other names (index.html, pushwire.js, which must match its pushwire.wasm) are kept but
    // asked about each time, and get 304 while unchanged.
    std::string headers =
        std::string("ETag: ") + tag + "\r\nLast-Modified: " + httpDate(info.st_mtime) +
        "\r\nCache-Control: " + (hashedAsset(path) ? "public, max-age=31536000, immutable" : "no-cache") +
        "\r\nVary: Accept-Encoding\r\n";
    const std::string_view ifNoneMatch = request.header("If-None-Match");
    if (ifNoneMatch.empty() ? notModifiedSince(request.header("If-Modified-Since"), info.st_mtime)
                            : etagMatches(ifNoneMatch, tag)) {
        connection->respond(304, contentType, std::string(), headers);
        return;
    }
    std::ifstream in(sent, std::ios::binary);
    if (!in) {
        connection->respondError(ErrorCode::NotFound, "no such file: " + path);
        return;
    }
    std::ostringstream body;
    body << in.rdbuf();
    if (compressHere) {
        if (auto made = files.gzip->get(*resolved, info, body.str())) {
            connection->respond(200, contentType, *made, headers + "Content-Encoding: gzip\r\n");
            return;
        }
        // Not smaller: sent as it is, under the plain tag.
        std::string plainHeaders = headers;
        plainHeaders.replace(plainHeaders.find("-gz\""), 4, "\"");
        connection->respond(200, contentType, body.str(), plainHeaders);
        return;
    }
    if (precompressed) headers += "Content-Encoding: gzip\r\n";
    connection->respond(200, contentType, body.str(), headers);
}

}  // namespace pushwire::server
