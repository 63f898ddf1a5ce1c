#include "support/tcp_proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

namespace pushwire::test {

struct TcpProxy::Connection {
    int client = -1;
    int upstream = -1;
    std::string sent;      // what the client sent (its first megabyte), to find markers in
    std::string fromPeer;  // what the target sent that is not a whole value yet
    bool wedged = false;
    bool closed = false;  // set by the proxy's thread only, which alone closes the sockets
    bool cutting = false;

    bool marked(const std::string& marker) const {
        return !closed && !cutting && sent.find(marker) != std::string::npos;
    }
    // Any thread: both sides see the end; the sockets stay allocated until close().
    void shut() {
        cutting = true;
        ::shutdown(client, SHUT_RDWR);
        ::shutdown(upstream, SHUT_RDWR);
    }
    void close() {
        if (closed) return;
        closed = true;
        ::close(client);
        ::close(upstream);
    }
};

namespace {

bool sendAll(int fd, const char* data, std::size_t size) {
    while (size > 0) {
        const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
        if (n <= 0) return false;
        data += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace

std::size_t respValueEnd(const std::string& bytes, std::size_t at) {
    if (at >= bytes.size()) return std::string::npos;
    const std::size_t lineEnd = bytes.find("\r\n", at);
    if (lineEnd == std::string::npos) return std::string::npos;
    const char type = bytes[at];
    const long long n = std::atoll(bytes.c_str() + at + 1);
    std::size_t end = lineEnd + 2;
    if (type == '$') {
        if (n < 0) return end;
        end += static_cast<std::size_t>(n) + 2;
        return end <= bytes.size() ? end : std::string::npos;
    }
    if (type == '*' || type == '>') {
        for (long long i = 0; i < n; ++i) {
            end = respValueEnd(bytes, end);
            if (end == std::string::npos) return end;
        }
    }
    return end;  // + - : and anything else: one line
}

TcpProxy::TcpProxy(int targetPort) : targetPort_(targetPort) {
    // Close-on-exec, all of them: a process the test starts later must not hold a copy of
    // a connection open after the proxy closed it.
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(listener_, 64) != 0) {
        throw std::runtime_error("proxy: cannot listen");
    }
    socklen_t size = sizeof addr;
    getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &size);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
}

TcpProxy::~TcpProxy() {
    stopping_ = true;
    thread_.join();
    for (auto& connection : connections_) connection->close();
    ::close(listener_);
}

void TcpProxy::dropReplies(const std::string& marker, const std::string& needle, int count) {
    replaceReplies(marker, needle, count, "");
}

void TcpProxy::replaceReplies(const std::string& marker, const std::string& needle, int count, std::string replacement,
                              std::size_t filler) {
    std::lock_guard<std::mutex> lock(mutex_);
    dropMarker_ = marker;
    dropNeedle_ = needle;
    dropLeft_ = count;
    replacement_ = std::move(replacement);
    filler_ = filler;
}

int TcpProxy::dropped() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return dropped_;
}

int TcpProxy::wedge(const std::string& marker) {
    std::lock_guard<std::mutex> lock(mutex_);
    int n = 0;
    for (auto& connection : connections_) {
        if (connection->marked(marker) && !connection->wedged) {
            connection->wedged = true;
            ++n;
        }
    }
    return n;
}

int TcpProxy::cut(const std::string& marker) {
    std::lock_guard<std::mutex> lock(mutex_);
    int n = 0;
    for (auto& connection : connections_) {
        if (connection->marked(marker)) {
            connection->shut();
            ++n;
        }
    }
    return n;
}

int TcpProxy::connections(const std::string& marker) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return static_cast<int>(std::count_if(connections_.begin(), connections_.end(),
                                          [&](const auto& connection) { return connection->marked(marker); }));
}

void TcpProxy::accept() {
    const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) return;
    if (refusing_) {
        ::close(client);
        return;
    }
    const int upstream = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(targetPort_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(client);
        ::close(upstream);
        return;
    }
    auto connection = std::make_unique<Connection>();
    connection->client = client;
    connection->upstream = upstream;
    std::lock_guard<std::mutex> lock(mutex_);
    connections_.push_back(std::move(connection));
}

// Moves what one side has; false once that side is gone.
bool TcpProxy::pump(Connection& connection, bool fromClient) {
    char buffer[65536];
    const ssize_t n = ::recv(fromClient ? connection.client : connection.upstream, buffer, sizeof buffer, 0);
    if (n <= 0) return false;
    std::lock_guard<std::mutex> lock(mutex_);
    if (connection.closed || connection.cutting) return false;
    if (fromClient) {
        if (connection.sent.size() < (1u << 20)) connection.sent.append(buffer, static_cast<std::size_t>(n));
        return sendAll(connection.upstream, buffer, static_cast<std::size_t>(n));
    }
    if (connection.wedged) return true;  // read and thrown away: the client hears nothing
    connection.fromPeer.append(buffer, static_cast<std::size_t>(n));
    std::size_t start = 0;
    std::string out;
    std::size_t filler = 0;
    for (std::size_t end; (end = respValueEnd(connection.fromPeer, start)) != std::string::npos; start = end) {
        const std::string_view value(connection.fromPeer.data() + start, end - start);
        if (dropLeft_ > 0 && connection.marked(dropMarker_) && value.find(dropNeedle_) != std::string_view::npos) {
            --dropLeft_;
            ++dropped_;
            out.append(replacement_);
            filler += filler_;
            continue;
        }
        out.append(value);
    }
    connection.fromPeer.erase(0, start);
    if (!sendAll(connection.client, out.data(), out.size())) return false;
    const std::string chunk(std::min<std::size_t>(filler, 1u << 20), 'y');
    for (std::size_t left = filler; left > 0;) {
        const std::size_t size = std::min(left, chunk.size());
        if (!sendAll(connection.client, chunk.data(), size)) return false;
        left -= size;
    }
    return true;
}

void TcpProxy::run() {
    while (!stopping_) {
        std::vector<pollfd> fds{{listener_, POLLIN, 0}};
        std::vector<std::pair<Connection*, bool>> owners;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            for (auto& connection : connections_) {
                if (connection->cutting) connection->close();
            }
            connections_.erase(std::remove_if(connections_.begin(), connections_.end(),
                                              [](const auto& connection) { return connection->closed; }),
                               connections_.end());
            for (auto& connection : connections_) {
                fds.push_back({connection->client, POLLIN, 0});
                owners.emplace_back(connection.get(), true);
                fds.push_back({connection->upstream, POLLIN, 0});
                owners.emplace_back(connection.get(), false);
            }
        }
        if (poll(fds.data(), fds.size(), 50) <= 0) continue;
        if (fds[0].revents & POLLIN) accept();
        for (std::size_t i = 1; i < fds.size(); ++i) {
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            auto [connection, fromClient] = owners[i - 1];
            if (connection->closed) continue;
            if (!pump(*connection, fromClient)) {
                std::lock_guard<std::mutex> lock(mutex_);
                connection->close();
            }
        }
    }
}

}  // namespace pushwire::test
