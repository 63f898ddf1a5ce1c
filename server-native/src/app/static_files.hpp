// Serves files below a web root: GET/HEAD only (HEAD: the length, no body), no escaping
// the root (neither by ".." nor by a symbolic link, unless followSymlinks), nothing whose
// name or folder's name starts with a dot (/.env, /.git/config: 404, unless dotfiles),
// content types that browsers insist on (application/wasm for streaming compilation).
#pragma once

#include <string>

#include "front/http_connection.hpp"

namespace pushwire::server {

struct StaticFiles {
    std::string root;             // --web-root ("": none)
    bool followSymlinks = false;  // --web-follow-symlinks
    bool dotfiles = false;        // --serve-dotfiles
};

void serveStatic(const StaticFiles& files, HttpRequest& request, const HttpConnectionPtr& connection);

std::string contentTypeFor(const std::string& path);

}  // namespace pushwire::server
