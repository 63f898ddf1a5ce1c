// Serves files below a web root: GET/HEAD only (HEAD: the length, no body), no escaping
// the root (neither by ".." nor by a symbolic link, unless followSymlinks), content types
// that browsers insist on (application/wasm for streaming compilation).
#pragma once

#include <string>

#include "front/http_connection.hpp"

namespace pushwire::server {

void serveStatic(const std::string& webRoot, bool followSymlinks, HttpRequest& request,
                 const HttpConnectionPtr& connection);

std::string contentTypeFor(const std::string& path);

}  // namespace pushwire::server
