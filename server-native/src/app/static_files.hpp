// Serves files below a web root: GET/HEAD only, no escaping the root, content types
// that browsers insist on (application/wasm for streaming compilation).
#pragma once

#include <string>

#include "front/http_server.hpp"

namespace pushwire::server {

void serveStatic(const std::string& webRoot, HttpRequest& request, const HttpConnectionPtr& connection);

std::string contentTypeFor(const std::string& path);

}  // namespace pushwire::server
