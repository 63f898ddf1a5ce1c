// Reads every subscriber socket of the generator from one level-triggered epoll set,
// watched by the asio loop: one recv per readable socket per wake-up.
//
// Why not asio's own sockets: its reactor is edge-triggered and follows every completed
// read with a speculative one, so each message costs two recv calls (measured: 415,000
// recvfrom for 207,000 WebSocket deliveries). At 100,000 deliveries/s that alone made the
// generator dearer than the server it measures. The reads of one wake-up go to the kernel
// in one io_uring submission (one recv each otherwise), as the server batches its sends.
// Connecting and timers stay on asio; once connected, a subscriber's socket is released
// to the Receiver and written with send().
#pragma once

#include <liburing.h>

#include <array>
#include <asio.hpp>
#include <cstddef>
#include <string>
#include <string_view>

namespace pushwire::bench {

// A connection whose bytes the Receiver delivers.
class Sink {
public:
    virtual void onBytes(const char* data, std::size_t size) = 0;
    virtual void onClosed(const std::string& why) = 0;

    int fd() const { return fd_; }

protected:
    ~Sink() = default;

private:
    friend class Receiver;
    int fd_ = -1;
};

class Receiver {
public:
    explicit Receiver(asio::io_context& io);
    ~Receiver();
    Receiver(const Receiver&) = delete;
    Receiver& operator=(const Receiver&) = delete;

    // Takes the connected socket out of asio and watches it for `sink`. False (with the
    // socket closed) if that fails.
    bool adopt(asio::ip::tcp::socket& socket, Sink& sink);
    // Stops watching and closes the socket (reset, no TIME_WAIT). Idempotent.
    void drop(Sink& sink);
    // Writes all of `bytes` at once (requests are small and sockets idle when sent).
    static bool send(const Sink& sink, std::string_view bytes);

private:
    static constexpr int kBatch = 256;               // sockets read per wake-up
    static constexpr std::size_t kSlot = 16 * 1024;  // bytes read per socket per wake-up

    void wait();
    void drain();
    // `result`: bytes read, 0 at end of stream, or -errno.
    void deliver(Sink& sink, ssize_t result, const char* data);

    asio::posix::stream_descriptor epoll_;
    std::vector<char> buffers_;  // kBatch slots of kSlot bytes
    io_uring ring_{};
    bool ring_ok_ = false;  // else one recv per socket
};

}  // namespace pushwire::bench
