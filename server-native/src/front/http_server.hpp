// The HTTP front: an event-driven HTTP/1.1 server on asio. Requests are parsed by
// websocketpp's HTTP parser; each connection is a small object with no thread of its
// own, so thousands of parked long-polls and SSE streams cost a socket and a few
// hundred bytes each.
//
// Threading: everything here runs on the one thread that runs the io_context.
// Lifetimes: a connection lives while its server's Poller watches it (from accept to
// the end of close()); close() is deferred to the loop, so it is safe to call from inside
// a hub fan-out. An Attachment (what a transport parks on a connection) is owned by the
// connection and told onClose() exactly once before it is destroyed.
#pragma once

#include <asio.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "front/http_request.hpp"
#include "front/poller.hpp"
#include "front/sender.hpp"
#include "pushwire/protocol/errors.hpp"

namespace websocketpp::http::parser {
class request;
}

namespace pushwire::server {

class HttpServer;

class Attachment {
public:
    virtual ~Attachment() = default;
    virtual void onClose() = 0;
    virtual void onTimeout() {}
};

// What a WebSocket session parked on a connection is told. Frames are parsed, unmasked
// and checked (size, UTF-8, control frames) by websocketpp's RFC 6455 processor.
class WebSocketHandler : public Attachment {
public:
    virtual void onText(const std::string& text) = 0;
    virtual void onBinary() = 0;
};

class WebSocketFraming;  // websocketpp's processor, private to the front

struct HttpLimits {
    std::size_t maxBodyBytes = 64 * 1024;
    std::size_t maxQueuedBytes = 4 * 1024 * 1024;  // a slower reader is disconnected
    std::size_t maxConnections = 19000;
    std::chrono::milliseconds requestTimeout{15000};  // to send a whole request
    std::chrono::milliseconds idleTimeout{60000};     // between keep-alive requests
    bool ioUring = true;  // batch each turn's writes through io_uring when the kernel allows
};

class HttpConnection : public std::enable_shared_from_this<HttpConnection> {
public:
    HttpConnection(int fd, HttpServer& server);
    ~HttpConnection();
    HttpConnection(const HttpConnection&) = delete;
    HttpConnection& operator=(const HttpConnection&) = delete;

    void start();

    // Completes the current request. Common headers (length, CORS, connection) are added.
    void respond(int status, std::string_view contentType, std::string body, std::string_view extraHeaders = {});
    void respondJson(std::string body) { respond(200, "application/json", std::move(body)); }
    void respondError(protocol::ErrorCode code, std::string_view message);

    // Parks the current request until the attachment responds; `timeout` (if > 0) calls
    // its onTimeout().
    void hold(std::unique_ptr<Attachment> attachment, std::chrono::milliseconds timeout);
    // Turns the response into a close-delimited stream (SSE); `head` is the whole head.
    void beginStream(std::string head, std::unique_ptr<Attachment> attachment);

    // True when the current request asks to upgrade to WebSocket.
    bool wantsWebSocket() const { return upgradeRequest_ != nullptr; }
    // Answers the handshake (101) and hands the connection to `handler`. False (after
    // answering 400) when the handshake is invalid.
    // A peer silent for `idleLimit` (pings unanswered) is closed as dead.
    bool acceptWebSocket(std::unique_ptr<WebSocketHandler> handler, std::size_t maxMessageBytes,
                         std::chrono::milliseconds idleLimit);
    // A text frame; `frame` from frameWebSocketText may be shared by many connections.
    bool sendFrame(const std::shared_ptr<const std::string>& frame);
    bool sendText(const std::string& text);
    void sendPing();
    // Sends a close frame, then closes once it is written.
    void closeWebSocket(int code, const std::string& reason);

    // Queues bytes that `owner` keeps alive. Returns false, and closes, when the queue
    // passes maxQueuedBytes (a reader too slow to keep up).
    bool write(asio::const_buffer bytes, std::shared_ptr<const void> owner);
    bool write(std::string bytes);

    void close();
    bool closing() const { return closing_; }

private:
    enum class State { Reading, Dispatching, Held, Streaming, WebSocket, Done };
    struct Chunk {
        asio::const_buffer bytes;
        std::shared_ptr<const void> owner;
    };

    friend class HttpServer;
    friend class Poller;
    friend class Sender;
    int fd() const { return fd_; }
    // The queued bytes as iovecs (at most `max`); returns how many.
    std::size_t gather(iovec* parts, std::size_t max) const;
    // The result of a send of gather()'s buffers: bytes taken, or -errno.
    void sent(int result);
    void consumed(std::size_t written);
    void onReady(std::uint32_t events);  // epoll events
    void onReadable(bool hangUp);
    // Queued bytes, no write blocked, not closing.
    bool canSend() const { return !writing_ && !queue_.empty() && !closing_; }
    // Clears the scheduled flag; true when there is something to send now.
    bool takeScheduled();
    void flushNow();
    void writeQueued();
    void readWebSocket(const char* data, std::size_t size);
    void processInbox();
    void dispatch();
    // Deadlines are checked by the server's sweep, not by a timer per connection: no
    // timer operation per request, and a held connection carries no timer at all.
    void armTimer(std::chrono::milliseconds after);
    void cancelTimer() { hasDeadline_ = false; }
    void onTimer();
    void flush();
    void finishClose();
    void afterResponse();

    int fd_;
    std::chrono::steady_clock::time_point deadline_{};
    bool hasDeadline_ = false;
    HttpServer& server_;
    State state_ = State::Reading;
    bool keepAlive_ = true;
    bool writing_ = false;  // the socket took less than queued: waiting until writable
    bool closing_ = false;
    bool closeAfterWrite_ = false;
    bool sentContinue_ = false;
    bool flushScheduled_ = false;
    std::string inbox_;
    std::unique_ptr<websocketpp::http::parser::request> parser_;
    std::unique_ptr<websocketpp::http::parser::request> upgradeRequest_;
    std::unique_ptr<WebSocketFraming> framing_;
    std::chrono::milliseconds webSocketIdleLimit_{0};
    std::unique_ptr<Attachment> attachment_;
    // A vector, not a deque: libstdc++'s deque allocates ~600 bytes on construction,
    // which every idle connection would carry. Queues hold a chunk or two, except under
    // load, where the front's erase is still cheap next to the write.
    std::vector<Chunk> queue_;
    std::size_t queuedBytes_ = 0;
};

using HttpConnectionPtr = std::shared_ptr<HttpConnection>;

class HttpServer {
public:
    using Handler = std::function<void(HttpRequest&, const HttpConnectionPtr&)>;

    HttpServer(asio::io_context& io, HttpLimits limits);
    ~HttpServer();

    void route(const std::string& path, Handler handler);
    void fallback(Handler handler);
    // Binds and listens (backlog 4096). Throws std::system_error when the port is taken.
    void listen(const std::string& host, unsigned short port);
    unsigned short port() const;
    void stop();

    const HttpLimits& limits() const { return limits_; }
    std::size_t connectionCount() const { return poller_.size(); }
    std::uint64_t requestCount() const { return requests_; }
    std::uint64_t slowDisconnects() const { return slowDisconnects_; }
    // How writes leave: "io_uring", or "sendmsg (why io_uring is not used)".
    const std::string& writePath() const { return writePath_; }
    // True while writes go through io_uring (false without it, or once the ring failed).
    bool writesWithIoUring() const { return sender_ && !sender_->broken(); }
    asio::io_context& io() { return io_; }

private:
    friend class HttpConnection;
    void accept();
    void acceptReady();
    void dispatch(HttpRequest& request, const HttpConnectionPtr& connection);
    // Connections with queued bytes are flushed once per turn of the loop: one send of
    // everything queued for each, all of the turn's sends in one io_uring submission (or
    // one sendmsg each without io_uring).
    friend class WebSocketFraming;
    void scheduleFlush(std::shared_ptr<HttpConnection> connection);
    void flushAll();
    void sweep();

    asio::io_context& io_;
    HttpLimits limits_;
    asio::ip::tcp::acceptor acceptor_;
    asio::steady_timer acceptRetry_;
    asio::steady_timer sweep_;
    std::map<std::string, Handler, std::less<>> routes_;
    Handler fallback_;
    std::uint64_t requests_ = 0;
    std::uint64_t slowDisconnects_ = 0;  // readers that fell maxQueuedBytes behind
    bool stopped_ = false;
    std::vector<std::shared_ptr<HttpConnection>> dirty_;
    bool flushPosted_ = false;
    std::unique_ptr<Sender> sender_;  // null: sendmsg per connection
    std::string writePath_;
    Poller poller_;  // last: its connections go before the rest of the server
};

// A complete WebSocket text frame (unmasked, as servers send), built once and shared by
// every connection of a fan-out.
std::shared_ptr<const std::string> frameWebSocketText(const std::string& text);

// "HTTP/1.1 200 OK\r\n" and the headers every pushwire response carries.
std::string statusLine(int status);
std::string_view statusText(int status);

}  // namespace pushwire::server
