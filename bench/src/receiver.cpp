#include "receiver.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace pushwire::bench {

Receiver::Receiver(asio::io_context& io) : epoll_(io, ::epoll_create1(EPOLL_CLOEXEC)) { wait(); }

bool Receiver::adopt(asio::ip::tcp::socket& socket, Sink& sink) {
    std::error_code ec;
    const int fd = socket.release(ec);
    if (ec) return false;
    epoll_event event{};
    event.events = EPOLLIN | EPOLLRDHUP;
    event.data.ptr = &sink;
    if (::epoll_ctl(epoll_.native_handle(), EPOLL_CTL_ADD, fd, &event) != 0) {
        ::close(fd);
        return false;
    }
    sink.fd_ = fd;
    return true;
}

void Receiver::drop(Sink& sink) {
    if (sink.fd_ < 0) return;
    ::epoll_ctl(epoll_.native_handle(), EPOLL_CTL_DEL, sink.fd_, nullptr);
    linger reset{1, 0};
    ::setsockopt(sink.fd_, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    ::close(sink.fd_);
    sink.fd_ = -1;
}

bool Receiver::send(const Sink& sink, std::string_view bytes) {
    if (sink.fd_ < 0) return false;
    const ssize_t n = ::send(sink.fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    return n == static_cast<ssize_t>(bytes.size());
}

void Receiver::wait() {
    epoll_.async_wait(asio::posix::stream_descriptor::wait_read, [this](const std::error_code& ec) {
        if (ec) return;
        drain();
        wait();
    });
}

void Receiver::drain() {
    std::array<epoll_event, 256> events;
    const int count = ::epoll_wait(epoll_.native_handle(), events.data(), static_cast<int>(events.size()), 0);
    for (int i = 0; i < count; ++i) {
        auto& sink = *static_cast<Sink*>(events[static_cast<std::size_t>(i)].data.ptr);
        if (sink.fd_ < 0) continue;  // dropped by an earlier callback of this batch
        const ssize_t n = ::recv(sink.fd_, buffer_.data(), buffer_.size(), 0);
        if (n > 0) {
            sink.onBytes(buffer_.data(), static_cast<std::size_t>(n));
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            std::string why = n == 0 ? "closed by server" : std::string("read: ") + std::strerror(errno);
            drop(sink);
            sink.onClosed(why);
        }
    }
}

}  // namespace pushwire::bench
