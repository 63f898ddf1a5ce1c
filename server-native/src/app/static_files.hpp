// Serves files below a web root: GET/HEAD only (HEAD: the length, no body), no escaping
// the root (neither by ".." nor by a symbolic link, unless followSymlinks), nothing whose
// name or folder's name starts with a dot (/.env, /.git/config: 404, unless dotfiles),
// content types that browsers insist on (application/wasm for streaming compilation).
// Text (HTML, JS, CSS, JSON, SVG, wasm...) goes out gzipped to clients that take it: a
// fresh name.gz beside the file if there is one, else compressed here and kept (GzipCache).
// Caching: names with a content hash under assets/ (Vite's and webpack's
// assets/index-BkX3a9_Q.js) are `public, max-age=31536000, immutable`; the rest `no-cache`,
// revalidated with ETag / Last-Modified (304).
#pragma once

#include <memory>
#include <string>

#include "app/gzip_cache.hpp"
#include "front/http_connection.hpp"

namespace pushwire::server {

struct StaticFiles {
    std::string root;             // --web-root ("": none)
    bool followSymlinks = false;  // --web-follow-symlinks
    bool dotfiles = false;        // --serve-dotfiles
    std::shared_ptr<GzipCache> gzip = std::make_shared<GzipCache>();
};

// The path names a build's hashed asset: a segment `assets/` before it, and a last
// `-HASH.` or `.HASH.` in its file name, HASH 8 or more of [A-Za-z0-9_] with a digit or
// an upper-case letter (so that assets/app-settings.js is not one).
bool hashedAsset(std::string_view path);

void serveStatic(const StaticFiles& files, HttpRequest& request, const HttpConnectionPtr& connection);

std::string contentTypeFor(const std::string& path);

}  // namespace pushwire::server
