#include "front/sender.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace pushwire::server {

std::unique_ptr<Sender> Sender::create(unsigned entries, std::string& why) {
    std::unique_ptr<Sender> sender(new Sender(entries));
    const int error = io_uring_queue_init(entries, &sender->ring_, 0);
    if (error < 0) {
        why = std::strerror(-error);
        sender->slots_.clear();  // the destructor must not touch a ring that never was
        return nullptr;
    }
    // A table with a slot per possible descriptor; sockets are registered at their own
    // number. Without it (an old kernel) sends name the descriptor, as before.
    rlimit files{};
    unsigned table = 0;
    if (getrlimit(RLIMIT_NOFILE, &files) == 0) table = static_cast<unsigned>(std::min<rlim_t>(files.rlim_cur, 65536));
    if (table > 0 && io_uring_register_files_sparse(&sender->ring_, table) == 0) sender->tableSize_ = table;
    return sender;
}

Sender::Sender(unsigned entries) : slots_(entries) {}

Sender::~Sender() {
    if (!slots_.empty()) io_uring_queue_exit(&ring_);
}

void Sender::add(std::shared_ptr<SendTarget> target) {
    if (used_ == slots_.size()) submit();
    Slot& slot = slots_[used_];
    const std::size_t count = target->gather(slot.parts, kMaxGather);
    slot.message = msghdr{};
    slot.message.msg_iov = slot.parts;
    slot.message.msg_iovlen = count;
    io_uring_sqe* entry = io_uring_get_sqe(&ring_);
    const int fd = target->fd();
    // One buffer (a fan-out frame, most of the time): a plain send, with no msghdr for
    // the kernel to copy in.
    if (count == 1) {
        io_uring_prep_send(entry, fd, slot.parts[0].iov_base, slot.parts[0].iov_len, MSG_NOSIGNAL | MSG_DONTWAIT);
    } else {
        io_uring_prep_sendmsg(entry, fd, &slot.message, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    // A registered socket skips the kernel's file lookup and reference count per send.
    if (isRegistered(fd)) io_uring_sqe_set_flags(entry, IOSQE_FIXED_FILE);
    io_uring_sqe_set_data64(entry, used_);
    target->sendSubmitted();
    slot.target = std::move(target);
    ++used_;
}

bool Sender::isRegistered(int fd) const {
    return fd >= 0 && static_cast<std::size_t>(fd) < registered_.size() && registered_[static_cast<std::size_t>(fd)];
}

void Sender::registerSocket(int fd) {
    if (fd < 0 || static_cast<unsigned>(fd) >= tableSize_) return;
    if (io_uring_register_files_update(&ring_, static_cast<unsigned>(fd), &fd, 1) != 1) return;
    if (registered_.size() <= static_cast<std::size_t>(fd)) registered_.resize(static_cast<std::size_t>(fd) + 1);
    registered_[static_cast<std::size_t>(fd)] = true;
}

void Sender::unregisterSocket(int fd) {
    if (!isRegistered(fd)) return;
    int none = -1;
    io_uring_register_files_update(&ring_, static_cast<unsigned>(fd), &none, 1);
    registered_[static_cast<std::size_t>(fd)] = false;
}

void Sender::submit() {
    if (used_ == 0) return;
    const std::size_t count = used_;
    used_ = 0;
    int submitted;
    do {
        submitted = io_uring_submit_and_wait(&ring_, static_cast<unsigned>(count));
    } while (submitted == -EINTR);
    if (submitted < 0) broken_ = true;
    for (std::size_t done = 0; done < count; ++done) {
        io_uring_cqe* completion = nullptr;
        // Sends never wait (MSG_DONTWAIT): all completions are there once submitted.
        if (io_uring_peek_cqe(&ring_, &completion) != 0 && (broken_ || io_uring_wait_cqe(&ring_, &completion) != 0)) {
            broken_ = true;
            break;
        }
        const std::uint64_t index = io_uring_cqe_get_data64(completion);
        const int result = completion->res;
        io_uring_cqe_seen(&ring_, completion);
        if (index < count && slots_[index].target) {
            std::shared_ptr<SendTarget> target = std::move(slots_[index].target);
            target->sent(result);
        }
    }
    // A ring that failed: whoever did not hear back writes the ordinary way, and the
    // front stops using the ring.
    for (std::size_t i = 0; i < count; ++i) {
        if (slots_[i].target) {
            std::shared_ptr<SendTarget> target = std::move(slots_[i].target);
            target->sent(-EAGAIN);
        }
    }
}

}  // namespace pushwire::server
