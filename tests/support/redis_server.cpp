#include "redis_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <thread>

namespace pushwire::test {

int freeTcpPort() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t size = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &size);
    close(fd);
    return ntohs(addr.sin_port);
}

namespace {

bool answers(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    if (ok) {
        const char ping[] = "PING\r\n";
        ok = ::send(fd, ping, sizeof ping - 1, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof ping - 1);
        char reply[16] = {};
        timeval timeout{1, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        // +PONG, or -NOAUTH from a Redis that wants a password: up either way.
        ok = ok && recv(fd, reply, sizeof reply, 0) > 0 && (reply[0] == '+' || reply[0] == '-');
    }
    close(fd);
    return ok;
}

// What a shell command prints on stdout.
std::string output(const std::string& command) {
    std::string out;
    FILE* pipe = popen(command.c_str(), "r");
    if (!pipe) return out;
    std::array<char, 4096> buffer{};
    while (fgets(buffer.data(), static_cast<int>(buffer.size()), pipe)) out += buffer.data();
    pclose(pipe);
    return out;
}

}  // namespace

RedisServer::RedisServer(bool aof, int port) : RedisServer(Config{aof, port, "", {}, {}}) {}

RedisServer::RedisServer(const Config& config)
    : aof_(config.aof),
      port_(config.port ? config.port : freeTcpPort()),
      password_(config.password),
      extra_(config.extra),
      tls_(config.tls) {
    char templ[] = "/tmp/pushwire-redis-XXXXXX";
    if (!mkdtemp(templ)) throw std::runtime_error("mkdtemp failed");
    dir_ = templ;
    // A port found free can be taken before Redis binds it (by another test's connection,
    // with tests running in parallel): Redis then exits at once, and another one is tried.
    for (int attempt = 1;; ++attempt) {
        try {
            start();
            return;
        } catch (const std::runtime_error&) {
            if (config.port != 0 || attempt == 5) throw;
            port_ = freeTcpPort();
        }
    }
}

RedisServer::~RedisServer() {
    if (pid_ > 0) kill();
    std::system(("rm -rf '" + dir_ + "'").c_str());
}

void RedisServer::start() {
    std::vector<std::string> args = {"redis-server",
                                     "--port",
                                     tls_ ? "0" : std::to_string(port_),
                                     "--bind",
                                     "127.0.0.1",
                                     "--dir",
                                     dir_,
                                     "--save",
                                     "",
                                     "--daemonize",
                                     "no",
                                     "--logfile",
                                     dir_ + "/redis.log",
                                     "--protected-mode",
                                     "no"};
    if (!password_.empty()) args.insert(args.end(), {"--requirepass", password_});
    if (tls_) {
        args.insert(args.end(),
                    {"--tls-port", std::to_string(port_), "--tls-cert-file", tls_->cert, "--tls-key-file", tls_->key,
                     "--tls-ca-cert-file", tls_->ca, "--tls-auth-clients", tls_->clientCert.empty() ? "no" : "yes"});
    }
    args.insert(args.end(), extra_.begin(), extra_.end());
    if (aof_) {
        args.insert(args.end(), {"--appendonly", "yes", "--appendfsync", "always"});
    } else {
        args.insert(args.end(), {"--appendonly", "no"});
    }
    pid_ = fork();
    if (pid_ == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close_range(3, ~0u, 0);  // no copy of the test's sockets stays open in Redis
        std::vector<char*> raw;
        for (auto& arg : args) raw.push_back(arg.data());
        raw.push_back(nullptr);
        execvp("redis-server", raw.data());
        _exit(127);
    }
    for (int i = 0; i < 200; ++i) {
        // TLS: redis-cli does the handshake (a plain PING would be refused); quiet until it can.
        if (tls_ ? output("redis-cli -p " + std::to_string(port_) + cliOptions() + " PING 2>/dev/null") == "PONG\n"
                 : answers(port_)) {
            return;
        }
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    kill();
    throw std::runtime_error("redis-server did not start on port " + std::to_string(port_) + " (is it installed?)");
}

void RedisServer::stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
}

void RedisServer::kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGCONT);
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
}

void RedisServer::pause() {
    if (pid_ > 0) ::kill(pid_, SIGSTOP);
}

void RedisServer::resume() {
    if (pid_ > 0) ::kill(pid_, SIGCONT);
}

std::string RedisServer::cliOptions() const {
    std::string out;
    if (tls_) {
        out += " --tls --cacert '" + tls_->ca + "'";
        if (!tls_->clientCert.empty()) out += " --cert '" + tls_->clientCert + "' --key '" + tls_->clientKey + "'";
    }
    if (!password_.empty()) out += " --no-auth-warning -a '" + password_ + "'";
    return out;
}

std::string RedisServer::cli(const std::vector<std::string>& args) const {
    std::string command = "redis-cli -p " + std::to_string(port_) + cliOptions();
    for (const std::string& arg : args) command += " '" + arg + "'";
    return output(command);
}

}  // namespace pushwire::test
