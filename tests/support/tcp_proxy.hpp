// A TCP proxy inside the test process, between a process under test and a server it
// connects to (pushwire-server and its Redis): every byte passes until the test says
// otherwise. What the target sends is cut at RESP value boundaries, so single Redis
// replies and pub/sub messages can be dropped whole; a connection can be wedged (it stays
// open and passes nothing back: a peer gone deaf) or cut. Connections are told apart by
// what their client sent (`SUBSCRIBE`: a Redis subscriber connection).
//
// Threading: one thread of its own moves the bytes; the methods may be called from any
// thread. Lifetime: stopping (the destructor) closes every connection.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace pushwire::test {

class TcpProxy {
public:
    explicit TcpProxy(int targetPort);
    ~TcpProxy();
    TcpProxy(const TcpProxy&) = delete;
    TcpProxy& operator=(const TcpProxy&) = delete;

    int port() const { return port_; }
    // The next `count` values the target sends, on connections whose client sent
    // `marker`, that contain `needle`, are dropped; the rest pass.
    void dropReplies(const std::string& marker, const std::string& needle, int count);
    int dropped() const;
    // The same values, replaced by `replacement` followed by `filler` bytes of 'y' (a
    // hostile Redis: a huge array header, a bulk string that never ends, replies to nothing).
    void replaceReplies(const std::string& marker, const std::string& needle, int count, std::string replacement,
                        std::size_t filler = 0);
    // Connections open now whose client sent `marker` pass nothing back from now on;
    // returns how many. Connections made later are not wedged.
    int wedge(const std::string& marker);
    // Closes the connections whose client sent `marker`; returns how many.
    int cut(const std::string& marker);
    // While on, new connections are closed as soon as they are accepted (a target that
    // cannot be reached); the open ones go on.
    void refuseNew(bool refuse) { refusing_ = refuse; }
    // Connections open now whose client sent `marker`.
    int connections(const std::string& marker) const;

    struct Connection;

private:
    void run();
    void accept();
    bool pump(Connection& connection, bool fromClient);

    int port_ = 0;
    int targetPort_ = 0;
    int listener_ = -1;
    std::atomic<bool> stopping_{false};
    std::atomic<bool> refusing_{false};
    mutable std::mutex mutex_;
    std::vector<std::unique_ptr<Connection>> connections_;
    std::string dropMarker_;
    std::string dropNeedle_;
    int dropLeft_ = 0;
    std::string replacement_;  // what a dropped value is replaced by ("": nothing)
    std::size_t filler_ = 0;
    int dropped_ = 0;
    std::thread thread_;
};

// Where the RESP value starting at `at` ends (the index after it), or std::string::npos
// while it is not whole yet.
std::size_t respValueEnd(const std::string& bytes, std::size_t at);

}  // namespace pushwire::test
