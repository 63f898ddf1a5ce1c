#include "app/static_files.hpp"

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

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

}  // namespace

void serveStatic(const std::string& webRoot, bool followSymlinks, HttpRequest& request,
                 const HttpConnectionPtr& connection) {
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
        path.find('\0') != std::string::npos || path.find('\\') != std::string::npos) {
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
    if (!resolved || !root || (!followSymlinks && !inside(*resolved, *root))) {
        connection->respondError(ErrorCode::NotFound, "no such file: " + path);
        return;
    }
    std::ifstream in(*resolved, std::ios::binary);
    if (!in || ::stat(resolved->c_str(), &info) != 0 || !S_ISREG(info.st_mode)) {
        connection->respondError(ErrorCode::NotFound, "no such file: " + path);
        return;
    }
    std::ostringstream body;
    body << in.rdbuf();
    connection->respond(200, contentTypeFor(*resolved), body.str());
}

}  // namespace pushwire::server
