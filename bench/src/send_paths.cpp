// pushwire-send-paths: the experiment behind server-native/src/front/sender.hpp. A
// sender process writes one small message to each of N loopback TCP sockets per round,
// rounds 10 ms apart (one message per connection per write, as a fan-out at 100 msg/s
// does), either with one sendmsg per socket or with one io_uring submission per round;
// a child process reads everything. Prints CPU per message of both sides.
//
//   pushwire-send-paths sendmsg|io_uring [--sockets N] [--rounds R] [--bytes B]
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

double cpuSeconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

void noDelay(int fd) {
    int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

[[noreturn]] void receive(const sockaddr_in& address, int sockets, long expectedBytes, long messages) {
    const int epoll = epoll_create1(0);
    for (int i = 0; i < sockets; ++i) {
        const int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) _exit(1);
        noDelay(fd);
        epoll_event event{};
        event.events = EPOLLIN;
        event.data.fd = fd;
        epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event);
    }
    std::vector<char> buffer(65536);
    epoll_event events[256];
    long received = 0;
    while (received < expectedBytes) {
        const int ready = epoll_wait(epoll, events, 256, -1);
        for (int i = 0; i < ready; ++i) {
            const ssize_t n = recv(events[i].data.fd, buffer.data(), buffer.size(), 0);
            if (n > 0) received += n;
        }
    }
    std::printf("receiver: %.2f us CPU per message\n", cpuSeconds() * 1e6 / static_cast<double>(messages));
    std::fflush(stdout);
    _exit(0);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: pushwire-send-paths sendmsg|io_uring [--sockets N] [--rounds R] [--bytes B]\n");
        return 2;
    }
    const bool uring = std::string(argv[1]) == "io_uring";
    int sockets = 1000, rounds = 300, bytes = 100;
    for (int i = 2; i + 1 < argc; i += 2) {
        const std::string name = argv[i];
        const int value = std::atoi(argv[i + 1]);
        if (name == "--sockets") sockets = value;
        else if (name == "--rounds") rounds = value;
        else if (name == "--bytes") bytes = value;
    }
    const int listener = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || listen(listener, 4096) != 0 ||
        getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        std::perror("listen");
        return 1;
    }
    const long expectedBytes = static_cast<long>(sockets) * rounds * bytes;
    const pid_t child = fork();
    if (child == 0) receive(address, sockets, expectedBytes, static_cast<long>(sockets) * rounds);

    std::vector<int> fds;
    for (int i = 0; i < sockets; ++i) {
        const int fd = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK);
        noDelay(fd);
        fds.push_back(fd);
    }
    io_uring ring{};
    if (uring && io_uring_queue_init(1024, &ring, 0) != 0) {
        std::fprintf(stderr, "io_uring is not available here\n");
        return 1;
    }
    const std::string message(static_cast<std::size_t>(bytes), 'x');
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const double before = cpuSeconds();
    for (int round = 0; round < rounds; ++round) {
        if (!uring) {
            for (int fd : fds) send(fd, message.data(), message.size(), MSG_NOSIGNAL);
        } else {
            for (std::size_t first = 0; first < fds.size(); first += 1024) {
                const std::size_t count = std::min<std::size_t>(1024, fds.size() - first);
                for (std::size_t i = 0; i < count; ++i) {
                    io_uring_prep_send(io_uring_get_sqe(&ring), fds[first + i], message.data(), message.size(),
                                       MSG_NOSIGNAL | MSG_DONTWAIT);
                }
                io_uring_submit_and_wait(&ring, static_cast<unsigned>(count));
                for (std::size_t i = 0; i < count; ++i) {
                    io_uring_cqe* completion = nullptr;
                    if (io_uring_wait_cqe(&ring, &completion) != 0) break;
                    io_uring_cqe_seen(&ring, completion);
                }
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    const double messages = static_cast<double>(sockets) * rounds;
    std::printf("%s sender: %.2f us CPU per message\n", uring ? "io_uring" : "sendmsg",
                (cpuSeconds() - before) * 1e6 / messages);
    int status = 0;
    waitpid(child, &status, 0);
    return 0;
}
