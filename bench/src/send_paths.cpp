// pushwire-send-paths: the experiment behind server-native/src/front/sender.hpp, and the
// kernel's floor in docs/benchmarks.md. A sender process writes one small message to each
// of N loopback TCP sockets per round, R rounds a second (one message per connection per
// write, as a fan-out at 100 msg/s does), either with one sendmsg per socket or with one
// io_uring submission per round; a child process reads everything. The sender does
// nothing else: no framing, no state per connection, one buffer for every write. Prints
// the exact CPU time (CLOCK_PROCESS_CPUTIME_ID) per message of both sides; --json prints
// them as one line of bench/run.sh's results.
//
//   pushwire-send-paths sendmsg|io_uring [--sockets N] [--rounds R] [--bytes B] [--rate R]
//                       [--warmup W] [--json]
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

namespace {

// The scheduler's exact on-CPU time of every thread of this process, as the bench reads
// the servers' (schedstat), not utime+stime's clock ticks.
double cpuSeconds() {
    timespec now{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

void noDelay(int fd) {
    int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

// Reads everything, then writes its CPU time per message to `report` and exits.
// The first warmupBytes are read but not counted.
[[noreturn]] void receive(const sockaddr_in& address, int sockets, long warmupBytes, long expectedBytes, long messages,
                          int report) {
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
    double before = -1;
    while (received < expectedBytes) {
        if (before < 0 && received >= warmupBytes) before = cpuSeconds();
        // Nothing for 5 s: a write was refused; the sender reports the failure.
        const int ready = epoll_wait(epoll, events, 256, 5000);
        if (ready == 0) _exit(1);
        for (int i = 0; i < ready; ++i) {
            const ssize_t n = recv(events[i].data.fd, buffer.data(), buffer.size(), 0);
            if (n > 0) received += n;
        }
    }
    const double perMessage = (cpuSeconds() - before) * 1e6 / static_cast<double>(messages);
    if (write(report, &perMessage, sizeof perMessage) != sizeof perMessage) _exit(1);
    _exit(0);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr,
                     "usage: pushwire-send-paths sendmsg|io_uring [--sockets N] [--rounds R] [--bytes B] [--rate R] "
                     "[--warmup W] [--json]\n");
        return 2;
    }
    const std::string mode = argv[1];
    if (mode != "sendmsg" && mode != "io_uring") {
        std::fprintf(stderr, "pushwire-send-paths: the first argument is sendmsg or io_uring, not %s\n", argv[1]);
        return 2;
    }
    const bool uring = mode == "io_uring";
    int sockets = 1000, rounds = 300, bytes = 100, rate = 100, warmup = 20;
    bool json = false;
    for (int i = 2; i < argc; ++i) {
        const std::string name = argv[i];
        if (name == "--json") {
            json = true;
            continue;
        }
        const int value = i + 1 < argc ? std::atoi(argv[++i]) : 0;
        if (name == "--sockets") sockets = value;
        else if (name == "--rounds") rounds = value;
        else if (name == "--bytes") bytes = value;
        else if (name == "--rate") rate = value;
        else if (name == "--warmup") warmup = value;
        else {
            std::fprintf(stderr, "pushwire-send-paths: unknown option %s\n", name.c_str());
            return 2;
        }
    }
    if (sockets <= 0 || rounds <= 0 || bytes <= 0 || rate <= 0 || warmup < 0) {
        std::fprintf(stderr, "--sockets, --rounds, --bytes and --rate take positive numbers, --warmup W >= 0\n");
        return 2;
    }
    // Exit status 3: this kernel (or container) refuses io_uring.
    io_uring ring{};
    if (uring && io_uring_queue_init(1024, &ring, 0) != 0) {
        std::fprintf(stderr, "io_uring is not available here\n");
        return 3;
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
    const long warmupBytes = static_cast<long>(sockets) * warmup * bytes;
    const long expectedBytes = warmupBytes + static_cast<long>(sockets) * rounds * bytes;
    int report[2];
    if (pipe(report) != 0) {
        std::perror("pipe");
        return 1;
    }
    const pid_t child = fork();
    if (child == 0)
        receive(address, sockets, warmupBytes, expectedBytes, static_cast<long>(sockets) * rounds, report[1]);

    // A reader that could not connect them all (out of descriptors) leaves accept waiting:
    // give up after 10 s instead of hanging.
    const timeval patience{10, 0};
    setsockopt(listener, SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience);
    std::vector<int> fds;
    for (int i = 0; i < sockets; ++i) {
        const int fd = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK);
        if (fd < 0) {
            std::perror("accept");
            kill(child, SIGKILL);
            waitpid(child, nullptr, 0);
            return 1;
        }
        noDelay(fd);
        fds.push_back(fd);
    }
    const std::string message(static_cast<std::size_t>(bytes), 'x');
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    double before = cpuSeconds();
    const auto interval = std::chrono::microseconds(1'000'000 / rate);
    auto next = std::chrono::steady_clock::now();
    for (int round = 0; round < warmup + rounds; ++round) {
        if (round == warmup) before = cpuSeconds();
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
        next += interval;
        std::this_thread::sleep_until(next);
    }
    const double messages = static_cast<double>(sockets) * rounds;
    const double sender = (cpuSeconds() - before) * 1e6 / messages;
    double receiver = 0;
    const bool received = read(report[0], &receiver, sizeof receiver) == sizeof receiver;
    int status = 0;
    waitpid(child, &status, 0);
    if (!received || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::fprintf(stderr, "the receiver failed\n");
        return 1;
    }
    if (json) {
        std::printf(
            "{\"scenario\":\"floor\",\"target\":\"floor\",\"send\":\"%s\",\"subscribers\":%d,"
            "\"messages\":%d,\"bytes\":%d,\"rate\":%d,\"server_cpu_us_per_delivery\":%.4f,"
            "\"bench_cpu_us_per_delivery\":%.4f}\n",
            uring ? "io_uring" : "sendmsg", sockets, rounds, bytes, rate, sender, receiver);
    } else {
        std::printf("%s sender: %.2f us CPU per message; receiver: %.2f\n", uring ? "io_uring" : "sendmsg", sender,
                    receiver);
    }
    return 0;
}
