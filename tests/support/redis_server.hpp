// A real redis-server for a test: its own free loopback port and temporary directory,
// started in the constructor (ready to answer when it returns) and stopped with the
// object. Nothing depends on a Redis that happens to be running. With Config::tls it speaks
// only TLS (--port 0 --tls-port P), and cli() and url() speak it too.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace pushwire::test {

class RedisServer {
public:
    // Files of a test CA (made with the openssl CLI by the test).
    struct Tls {
        std::string cert, key, ca;          // the server's certificate and key, and the CA it trusts
        std::string clientCert, clientKey;  // what cli() presents; given: tls-auth-clients yes
    };
    struct Config {
        bool aof = false;                     // append-only persistence (fsync always), to survive restart()
        int port = 0;                         // 0: a free one
        std::string password;                 // requirepass; cli() sends it too
        std::vector<std::string> extra = {};  // more redis-server arguments (--tls-port ...)
        std::optional<Tls> tls = {};          // TLS only, on port(): no plain TCP port
    };
    // `aof`: append-only persistence (fsync always), to survive restart().
    explicit RedisServer(bool aof = false, int port = 0);
    explicit RedisServer(const Config& config);
    ~RedisServer();
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;

    int port() const { return port_; }
    std::string url() const { return (tls_ ? "rediss://127.0.0.1:" : "redis://127.0.0.1:") + std::to_string(port_); }
    // Runs redis-cli with these arguments; returns its output.
    std::string cli(const std::vector<std::string>& args) const;
    // redis-cli's own arguments for this server: TLS and the password (no port).
    std::string cliOptions() const;
    void stop();   // SIGTERM and wait (AOF is written)
    void kill();   // SIGKILL
    void start();  // again, on the same port and directory
    // SIGSTOP / SIGCONT: a Redis that holds its connections open and answers nothing.
    void pause();
    void resume();
    bool running() const { return pid_ > 0; }

private:
    bool aof_;
    int port_;
    std::string password_;
    std::vector<std::string> extra_;
    std::optional<Tls> tls_;
    std::string dir_;
    pid_t pid_ = -1;
};

int freeTcpPort();

}  // namespace pushwire::test
