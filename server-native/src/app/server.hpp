// Wires the hub, the HTTP front and the transports on one asio loop.
// Threading: construct, start() and run() on one thread; stop() from any thread.
#pragma once

#include <asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "app/options.hpp"

namespace pushwire::server {

class Server {
public:
    explicit Server(Options options);
    ~Server();

    // Binds both ports; throws std::exception with a readable message on failure.
    void start();
    // Runs the loop until the broker is reachable, or failed once, or `limit` passed (a
    // remote broker answers within a few round trips; the memory broker at once).
    void awaitBroker(std::chrono::milliseconds limit);
    // Runs the loop until stop() or SIGINT/SIGTERM.
    void run();
    void stop();

    unsigned short httpPort() const;
    // "io_uring", or "sendmsg (why io_uring is not used)".
    const std::string& writePath() const;
    unsigned short wsPort() const;
    // Who may do what, in one line for the start-up log; open(): nobody is checked.
    std::string accessSummary() const;
    bool open() const;
    bool tls() const;  // HTTPS and WSS
    // What presence is on, in one line for the start-up log ("" when off), and a warning
    // when a --join-leave pattern names channels --presence does not.
    std::string presenceSummary() const;
    // The transports enabled (--transports), named as negotiate names them.
    std::vector<std::string> transports() const;
    bool websocketEnabled() const;
    // "memory" or "redis://host:port/db"; its state ("ok", "connecting", or what is wrong).
    std::string brokerName() const;
    std::string brokerState() const;
    bool brokerAvailable() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace pushwire::server
