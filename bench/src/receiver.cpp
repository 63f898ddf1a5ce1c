#include "receiver.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace pushwire::bench {

Receiver::Receiver(asio::io_context& io)
    : epoll_(io, ::epoll_create1(EPOLL_CLOEXEC)), buffers_(static_cast<std::size_t>(kBatch) * kSlot) {
    ring_ok_ = io_uring_queue_init(kBatch, &ring_, 0) == 0;
    wait();
}

Receiver::~Receiver() {
    if (ring_ok_) io_uring_queue_exit(&ring_);
}

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
    std::array<epoll_event, kBatch> events;
    const int count = ::epoll_wait(epoll_.native_handle(), events.data(), kBatch, 0);
    if (count <= 0) return;
    auto sinkAt = [&](int i) -> Sink& { return *static_cast<Sink*>(events[static_cast<std::size_t>(i)].data.ptr); };
    auto slot = [&](int i) { return buffers_.data() + static_cast<std::size_t>(i) * kSlot; };
    if (!ring_ok_ || count == 1) {
        for (int i = 0; i < count; ++i) {
            Sink& sink = sinkAt(i);
            if (sink.fd_ < 0) continue;  // dropped by an earlier callback of this batch
            const ssize_t n = ::recv(sink.fd_, slot(0), kSlot, 0);
            deliver(sink, n < 0 ? -errno : n, slot(0));
        }
        return;
    }
    // All reads first, in one submission (MSG_DONTWAIT: each completes during it), then
    // the callbacks, which may drop sockets of this batch.
    for (int i = 0; i < count; ++i) {
        io_uring_sqe* entry = io_uring_get_sqe(&ring_);
        io_uring_prep_recv(entry, sinkAt(i).fd_, slot(i), kSlot, MSG_DONTWAIT);
        io_uring_sqe_set_data64(entry, static_cast<std::uint64_t>(i));
    }
    io_uring_submit_and_wait(&ring_, static_cast<unsigned>(count));
    std::array<int, kBatch> results;
    results.fill(-EAGAIN);
    for (int done = 0; done < count; ++done) {
        io_uring_cqe* completion = nullptr;
        if (io_uring_wait_cqe(&ring_, &completion) != 0) break;
        results[io_uring_cqe_get_data64(completion)] = completion->res;
        io_uring_cqe_seen(&ring_, completion);
    }
    for (int i = 0; i < count; ++i) {
        Sink& sink = sinkAt(i);
        if (sink.fd_ < 0) continue;
        deliver(sink, results[static_cast<std::size_t>(i)], slot(i));
    }
}

void Receiver::deliver(Sink& sink, ssize_t result, const char* data) {
    if (result > 0) {
        sink.onBytes(data, static_cast<std::size_t>(result));
    } else if (result == 0 || (result != -EAGAIN && result != -EINTR)) {
        std::string why =
            result == 0 ? "closed by server" : std::string("read: ") + std::strerror(static_cast<int>(-result));
        drop(sink);
        sink.onClosed(why);
    }
}

}  // namespace pushwire::bench
