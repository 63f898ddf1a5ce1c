#include "app/static_files.hpp"

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

void serveStatic(const std::string& webRoot, HttpRequest& request, const HttpConnectionPtr& connection) {
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
    std::ifstream in(file, std::ios::binary);
    if (!in || ::stat(file.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) {
        connection->respondError(ErrorCode::NotFound, "no such file: " + path);
        return;
    }
    std::ostringstream body;
    body << in.rdbuf();
    std::string content = request.method == "HEAD" ? std::string() : body.str();
    connection->respond(200, contentTypeFor(file), std::move(content));
}

}  // namespace pushwire::server
