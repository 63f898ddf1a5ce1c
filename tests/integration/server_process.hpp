// Test harness: the real pushwire-server binary on free loopback ports, plus raw-socket,
// SSE and WebSocket clients that no part of the server shares code with.
//
// A ServerProcess belongs to the test case that made it: when it goes, the server is
// stopped with SIGTERM and the test case fails if the server did not exit with status 0
// (a crash or a hang at shutdown) or wrote a sanitizer report to its stderr. The server's
// stderr (its log) goes to a temporary file, readable with log().
#pragma once

#include <httplib.h>
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace pushwire::test {

using namespace std::chrono_literals;

class ServerProcess {
public:
    explicit ServerProcess(std::vector<std::string> args = {});
    // With `environment` (NAME=value each) added to the server's environment.
    ServerProcess(std::vector<std::string> args, std::vector<std::string> environment);
    // Stops the server and checks how it ended (see above).
    ~ServerProcess();
    ServerProcess(const ServerProcess&) = delete;
    ServerProcess& operator=(const ServerProcess&) = delete;

    int httpPort() const { return httpPort_; }
    int pid() const { return pid_; }
    int wsPort() const { return wsPort_; }
    std::string wsUrl(const std::string& query = "") const;
    httplib::Client client() const;
    bool alive();
    // SIGTERM and wait; returns the exit status (-1 if it had to be killed).
    int terminate();
    // SIGKILL: the node dies as in a crash (not counted against the test).
    void kill9();
    // Sends `sig` and returns at once.
    void signal(int sig);
    // Waits up to `timeout` for the server to exit: its exit status (-1: ended by a
    // signal), or nullopt while it still runs.
    std::optional<int> waitExit(std::chrono::milliseconds timeout);
    // Everything the server wrote to stderr so far.
    std::string log() const;
    // One series of /pushwire/metrics, named as it is printed
    // (`pushwire_limit_hits_total{limit="channels"}`); nullopt when the server does not
    // print it.
    std::optional<double> metric(const std::string& series) const;
    // Polls the series until `good(value)`; returns the last value read (nullopt: never
    // printed). `timeout` is only for a server that hangs.
    std::optional<double> waitMetric(const std::string& series, const std::function<bool(double)>& good,
                                     std::chrono::milliseconds timeout = 15000ms) const;

private:
    void start(std::vector<std::string> args, const std::vector<std::string>& environment);
    bool reap(bool block);  // true once the process is gone; its status is kept
    void checkEnd();        // fails the running test case for a bad exit or a sanitizer report

    pid_t pid_ = -1;
    int httpPort_ = 0;
    int wsPort_ = 0;
    std::string logPath_;
    bool ended_ = false;
    int waitStatus_ = 0;
    bool killedOnPurpose_ = false;
};

// The server binary the tests start: $HARNESS_SERVER_BIN when set, else the one this build
// made. The sanitizer build runs the plain build's harness (a process that only talks to
// the server over sockets, unsanitized in either build) against its sanitized server
// (tests/asan_harness.cpp). Not a PUSHWIRE_ variable: the server warns about those it
// does not know, and the servers started with popen inherit the harness's environment.
// Tests start the server through this (or ServerProcess), never PUSHWIRE_SERVER_BIN itself:
// that one would be the plain server in the sanitizer build's run too.
const char* serverBinary();
// Whether that server is built with ASan and UBSan ($HARNESS_SERVER_SANITIZED=1): its RSS
// is then the sanitizer's (quarantine, shadow memory), not the server's.
bool serverSanitized();

// The lines of a sanitizer report (AddressSanitizer, LeakSanitizer, UndefinedBehaviorSanitizer)
// in a process's stderr, or "" when there is none.
std::string sanitizerReport(const std::string& stderrText);

// The value of one series in Prometheus text, e.g. `pushwire_broker_channels` or
// `pushwire_connections{transport="sse"}`; nullopt when the text has no such line.
std::optional<double> metricValue(const std::string& text, const std::string& series);

// POST /pushwire/publish, returns the seq (or throws with the response body).
std::uint64_t publish(const ServerProcess& server, const std::string& channel, const std::string& dataJson);
// The same, for a publish that may be refused (a broker failing over): the seq, or 0 with
// the HTTP status in `status` (0: no answer within 10 s).
std::uint64_t tryPublish(const ServerProcess& server, const std::string& channel, const std::string& dataJson,
                         int* status = nullptr);

// A plain TCP connection, for malformed bytes and hand-checked framing.
class RawSocket {
public:
    // `receiveBuffer` > 0 sets SO_RCVBUF before connecting (a slow, small-window reader);
    // `from`: the local address to connect from (127.0.0.2: another client address).
    explicit RawSocket(int port, int receiveBuffer = 0, const std::string& from = "");
    ~RawSocket();
    void send(const std::string& bytes);
    // Reads until `done(buffer)` or timeout; returns everything read so far.
    std::string readUntil(const std::function<bool(const std::string&)>& done,
                          std::chrono::milliseconds timeout = 5000ms);
    bool closedByPeer(std::chrono::milliseconds timeout = 5000ms);
    // Like closedByPeer, but only an orderly close (FIN) counts: false on a reset.
    bool closedCleanly(std::chrono::milliseconds timeout = 5000ms);
    void shutdownWrite();
    // Reads at most `max` bytes, waiting up to `timeout`; "" when nothing came.
    std::string readSome(std::size_t max, std::chrono::milliseconds timeout);
    // Sends what it can without blocking; returns how many bytes went (-1: an error).
    long trySend(const std::string& bytes);
    const std::string& received() const { return buffer_; }
    void clearReceived() { buffer_.clear(); }
    int fd() const { return fd_; }

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
    // True when the server ends the stream with an orderly close (FIN) within `timeout`;
    // events that came before it stay readable with waitFor().
    bool ended(std::chrono::milliseconds timeout = 5000ms);

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
    // Fail the running test case when the frame could not be sent.
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

// A WebSocket client over a raw socket, frames built by hand: for malformed frames and
// for the exact bytes a server sends.
class RawWebSocket {
public:
    // `extraHeaders`: more handshake lines, each ending in \r\n (Origin, Cookie...).
    RawWebSocket(int port, const std::string& target, int receiveBuffer = 0, const std::string& extraHeaders = "");
    bool upgraded() const { return upgraded_; }
    const std::string& head() const { return head_; }
    // A masked frame; `length` overrides the declared payload length, `lengthBytes`
    // forces the length encoding (0: minimal, 2 or 8).
    static std::string frame(int opcode, const std::string& payload, bool fin = true, int lengthBytes = 0,
                             std::optional<std::uint64_t> length = std::nullopt);
    void send(const std::string& bytes) { socket_.send(bytes); }
    void sendText(const std::string& text) { socket_.send(frame(1, text)); }
    struct Frame {
        int opcode;
        std::string payload;
        int closeCode() const;
    };
    // Frames received so far, after waiting until `done(frames)` or the timeout.
    const std::vector<Frame>& waitFor(const std::function<bool(const std::vector<Frame>&)>& done,
                                      std::chrono::milliseconds timeout = 5000ms);
    // The close code the server sent (0 if none came within the timeout).
    int waitClose(std::chrono::milliseconds timeout = 5000ms);
    // Every byte received after the handshake.
    std::string rawBytes() const { return socket_.received().substr(headSize_); }
    RawSocket& socket() { return socket_; }

private:
    void parse();
    RawSocket socket_;
    std::string head_;
    std::size_t headSize_ = 0;
    std::size_t parsed_ = 0;
    bool upgraded_ = false;
    std::vector<Frame> frames_;
};

std::string field(const std::string& json, const std::string& name);  // crude scalar lookup for tests
// The server's resident memory, from /proc (kB).
long residentKb(int pid);

}  // namespace pushwire::test
