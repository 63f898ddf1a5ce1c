// Readiness of the front's sockets: one level-triggered epoll set, watched by the asio
// loop through its descriptor, and the table (by file descriptor) of the connections
// it owns.
//
// Why not asio's sockets: asio's reactor is edge-triggered, so every wait for a socket
// re-arms it (an epoll_ctl per request), and every registered socket carries asio's
// per-descriptor state and a pending operation. Here a request costs one recv, an answer
// one sendmsg, and an idle connection nothing but its own object. Timers, posting and
// the accept wait stay on asio.
//
// Threading: the loop thread.
#pragma once

#include <asio.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace pushwire::server {

class HttpConnection;

class Poller {
public:
    explicit Poller(asio::io_context& io);
    ~Poller();
    Poller(const Poller&) = delete;
    Poller& operator=(const Poller&) = delete;

    // Watches `fd` for reading on behalf of `connection`, which the poller keeps alive
    // until remove(fd). False if the descriptor cannot be watched.
    bool add(int fd, std::shared_ptr<HttpConnection> connection);
    // What to wait for on `fd`: readability (until the peer's EOF was read), and
    // writability while a write is blocked.
    void watch(int fd, bool readable, bool writable);
    // Stops watching; returns the connection, which dies when the caller lets go of it.
    std::shared_ptr<HttpConnection> remove(int fd);

    std::size_t size() const { return count_; }
    void forEach(const std::function<void(HttpConnection&)>& visit) const;
    // Drops every connection (at shutdown).
    void clear();

private:
    void wait();
    void drain();

    asio::posix::stream_descriptor epoll_;
    std::vector<std::shared_ptr<HttpConnection>> byFd_;
    std::size_t count_ = 0;
};

}  // namespace pushwire::server
