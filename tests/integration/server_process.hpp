// Test harness: the real pushwire-server binary on free loopback ports, plus raw-socket,
// SSE and WebSocket clients that no part of the server shares code with.
#pragma once

#include <httplib.h>
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace pushwire::test {

using namespace std::chrono_literals;

class ServerProcess {
public:
    explicit ServerProcess(std::vector<std::string> args = {});
    ~ServerProcess();
    ServerProcess(const ServerProcess&) = delete;
    ServerProcess& operator=(const ServerProcess&) = delete;

    int httpPort() const { return httpPort_; }
    int wsPort() const { return wsPort_; }
    std::string wsUrl(const std::string& query = "") const;
    httplib::Client client() const;
    bool alive();
    // SIGTERM and wait; returns the exit status (-1 if it had to be killed).
    int terminate();

private:
    pid_t pid_ = -1;
    int httpPort_ = 0;
    int wsPort_ = 0;
};

// POST /pushwire/publish, returns the seq (or throws with the response body).
std::uint64_t publish(const ServerProcess& server, const std::string& channel, const std::string& dataJson);

// A plain TCP connection, for malformed bytes and hand-checked framing.
class RawSocket {
public:
    explicit RawSocket(int port);
    ~RawSocket();
    void send(const std::string& bytes);
    // Reads until `done(buffer)` or timeout; returns everything read so far.
    std::string readUntil(const std::function<bool(const std::string&)>& done,
                          std::chrono::milliseconds timeout = 5000ms);
    bool closedByPeer(std::chrono::milliseconds timeout = 5000ms);
    void shutdownWrite();

private:
    int fd_ = -1;
    std::string buffer_;
};

// An SSE reader over a raw socket: parses events as a browser's EventSource would.
struct SseEvent {
    std::string event;  // "" for the default "message"
    std::string id;
    std::string data;
};
class SseClient {
public:
    SseClient(int port, const std::string& target, const std::string& extraHeaders = "");
    // Waits until at least `count` events of type `event` (ignoring others unless "*").
    std::vector<SseEvent> waitFor(std::size_t count, const std::string& event = "",
                                  std::chrono::milliseconds timeout = 5000ms);
    const std::string& head() const { return head_; }
    int status() const { return status_; }
    std::vector<SseEvent> all() const { return events_; }

private:
    void pump(std::chrono::milliseconds timeout, const std::function<bool()>& done);
    RawSocket socket_;
    std::string head_;
    std::string pending_;
    std::size_t consumed_ = 0;
    int status_ = 0;
    std::vector<SseEvent> events_;
};

// A websocketpp client on its own thread.
class WsClient {
public:
    explicit WsClient(const std::string& url);
    ~WsClient();
    bool connected() const;
    void send(const std::string& text);
    void sendBinary(const std::string& bytes);
    // Waits for a received text frame matching `match` (searching all frames received
    // since the last consumed one); returns it, or "" on timeout.
    std::string waitFor(const std::function<bool(const std::string&)>& match,
                        std::chrono::milliseconds timeout = 5000ms);
    std::vector<std::string> frames();
    // Close code seen from the server (0 while open), waiting up to timeout for it.
    int waitClosed(std::chrono::milliseconds timeout = 5000ms);
    int failStatus() const;  // HTTP status when the handshake was refused

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

std::string field(const std::string& json, const std::string& name);  // crude scalar lookup for tests

}  // namespace pushwire::test
