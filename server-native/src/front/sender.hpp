// Batched socket writes through io_uring: the connections written in one turn of the
// loop (a fan-out: one message to every subscriber) go to the kernel in one
// io_uring_enter instead of one sendmsg each.
//
// Why: at one message per connection per write (100 msg/s to 1000 WebSocket
// subscribers), 86% of the server's CPU is the kernel's, and each sendmsg pays the
// system call around the TCP work. Measured here with a bare sender (1000 loopback
// sockets, 100-byte messages, rounds 10 ms apart; bench/src/send_paths.cpp): 6.4-7.0 µs
// of sender CPU per message with sendmsg, 3.4-4.5 µs with one io_uring submission per
// round.
//
// Every send is MSG_DONTWAIT, so it completes (or fails with EAGAIN) during the
// submission: no request outlives submit(), and the iovecs can point into the
// connections' queues. When io_uring is not available (an old kernel, a container that
// forbids it) create() returns null and the front writes with sendmsg.
//
// Threading: the loop thread.
#pragma once

#include <liburing.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace pushwire::server {

// What the Sender sends for: a socket and the bytes queued for it.
class SendTarget {
public:
    virtual int fd() const = 0;
    // The queued bytes as iovecs, at most `max`; returns how many. They stay valid, and
    // nothing else sends them, until sent().
    virtual std::size_t gather(iovec* parts, std::size_t max) const = 0;
    // Its bytes are in a submission now.
    virtual void sendSubmitted() = 0;
    // The result of the send: bytes taken, or -errno.
    virtual void sent(int result) = 0;

protected:
    ~SendTarget() = default;
};

class Sender {
public:
    static constexpr std::size_t kMaxGather = 64;  // buffers per send

    // Null, with `why` set, when the kernel refuses io_uring.
    static std::unique_ptr<Sender> create(unsigned entries, std::string& why);
    ~Sender();
    Sender(const Sender&) = delete;
    Sender& operator=(const Sender&) = delete;

    // Queues a send of what `target` has queued; submits when the ring is full.
    void add(std::shared_ptr<SendTarget> target);
    // Submits what is queued and hands each result to its connection.
    void submit();
    // The ring failed; the front writes with sendmsg from now on.
    bool broken() const { return broken_; }

    // Registers a socket with the ring, at its own number (a file lookup and reference
    // count less per send), or forgets it; a socket must be forgotten before it is
    // closed, or the ring's reference keeps it open.
    void registerSocket(int fd);
    void unregisterSocket(int fd);

private:
    explicit Sender(unsigned entries);
    struct Slot {
        std::shared_ptr<SendTarget> target;
        msghdr message{};
        iovec parts[kMaxGather];
    };

    bool isRegistered(int fd) const;

    io_uring ring_{};
    std::vector<Slot> slots_;
    unsigned tableSize_ = 0;  // registered-file slots (0: none)
    std::vector<bool> registered_;
    std::size_t used_ = 0;
    bool broken_ = false;
};

}  // namespace pushwire::server
