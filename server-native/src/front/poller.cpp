#include "front/poller.hpp"

#include <sys/epoll.h>

#include "front/http_connection.hpp"

namespace pushwire::server {

namespace {
constexpr int kBatch = 256;  // events taken per wake-up
}

Poller::Poller(asio::io_context& io) : epoll_(io, ::epoll_create1(EPOLL_CLOEXEC)) { wait(); }

Poller::~Poller() { clear(); }

bool Poller::add(int fd, std::shared_ptr<HttpConnection> connection) {
    if (fd < 0) return false;
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = fd;
    if (::epoll_ctl(epoll_.native_handle(), EPOLL_CTL_ADD, fd, &event) != 0) return false;
    const auto slot = static_cast<std::size_t>(fd);
    if (byFd_.size() <= slot) byFd_.resize(slot + 1);
    byFd_[slot] = std::move(connection);
    ++count_;
    return true;
}

void Poller::watch(int fd, bool readable, bool writable) {
    epoll_event event{};
    event.events = (readable ? EPOLLIN : 0u) | (writable ? EPOLLOUT : 0u);
    event.data.fd = fd;
    ::epoll_ctl(epoll_.native_handle(), EPOLL_CTL_MOD, fd, &event);
}

std::shared_ptr<HttpConnection> Poller::remove(int fd) {
    const auto slot = static_cast<std::size_t>(fd);
    if (fd < 0 || slot >= byFd_.size() || !byFd_[slot]) return nullptr;
    ::epoll_ctl(epoll_.native_handle(), EPOLL_CTL_DEL, fd, nullptr);
    --count_;
    return std::move(byFd_[slot]);
}

void Poller::forEach(const std::function<void(HttpConnection&)>& visit) const {
    for (const auto& connection : byFd_) {
        if (connection) visit(*connection);
    }
}

void Poller::clear() {
    std::vector<std::shared_ptr<HttpConnection>> all;
    all.swap(byFd_);
    count_ = 0;
    all.clear();  // destructors may call back into an emptied table
}

void Poller::wait() {
    epoll_.async_wait(asio::posix::stream_descriptor::wait_read, [this](const std::error_code& ec) {
        if (ec) return;
        drain();
        wait();
    });
}

void Poller::drain() {
    epoll_event events[kBatch];
    const int count = ::epoll_wait(epoll_.native_handle(), events, kBatch, 0);
    for (int i = 0; i < count; ++i) {
        const auto slot = static_cast<std::size_t>(events[i].data.fd);
        if (slot >= byFd_.size() || !byFd_[slot]) continue;        // removed by an earlier event
        std::shared_ptr<HttpConnection> connection = byFd_[slot];  // alive through the call
        connection->onReady(events[i].events);
    }
}

}  // namespace pushwire::server
