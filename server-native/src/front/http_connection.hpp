// One client connection of the HTTP front: a small state machine with no thread or timer
// of its own, so thousands of parked long-polls and streams cost a socket and a few
// hundred bytes each.
//
//   Reading ──request──▶ Dispatching ──respond──▶ Reading (keep-alive) or Finishing
//                             ├──hold──▶ Held ──respond──▶ (as above)
//                             ├──beginStream──▶ Streaming (SSE)
//                             └──acceptWebSocket──▶ WebSocket (frames: WebSocketLink)
//   Finishing: the last bytes are queued; once written, the connection shuts down its
//   side and goes Lingering: it reads and discards what the peer still sends (a body it
//   refused, a close frame) for a bounded time and size, so the peer reads the answer
//   instead of a reset (nginx's lingering close). Then Closed.
//
// Writes are queued and leave once per turn of the loop (FlushList), with one send of
// everything queued; a connection is never in two sends at once.
//
// Threading: the loop thread. Lifetimes: the server's Poller owns the connection from
// accept until close() runs; close() is deferred to the loop, so it is safe to call from
// inside a fan-out. An Attachment (what a transport parks on a connection) is owned by
// the connection and told onClose() exactly once before it is destroyed.
#pragma once

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "front/http_head.hpp"
#include "front/http_request.hpp"
#include "front/sender.hpp"
#include "front/tls.hpp"
#include "front/write_queue.hpp"
#include "pushwire/protocol/errors.hpp"

namespace pushwire::server {

class HttpConnection;
class WebSocketLink;

class Attachment {
public:
    virtual ~Attachment() = default;
    virtual void onClose() = 0;
    virtual void onTimeout() {}
    // After notifyWhenDrained(): the connection's queue fell below
    // HttpLimits::drainBelowBytes (the reader took what was written). Called on a later
    // turn, never from inside a write.
    virtual void onDrained() {}
    // The time given to expireAt() came (a token's exp): tell the client and close.
    virtual void onExpired() {}
};

// What a request waiting for an answer from elsewhere (a broker, other nodes) is parked with:
// nothing to tell it on close.
struct ParkedRequest : Attachment {
    void onClose() override {}
};

// What a WebSocket session parked on a connection is told.
class WebSocketHandler : public Attachment {
public:
    virtual void onText(const std::string& text) = 0;
    virtual void onBinary() = 0;
};

struct HttpLimits {
    std::size_t maxBodyBytes = 64 * 1024;
    // A POST to batchPath with an NDJSON body (a batch publish) may be this large.
    std::size_t maxBatchBodyBytes = 0;
    std::string batchPath;
    // Bytes a connection may have queued: past this it is closed. Paced writers (the
    // transports' catch-up) stay far below it; it stops whatever is not paced.
    std::size_t maxQueuedBytes = 4 * 1024 * 1024;
    std::size_t drainBelowBytes = 64 * 1024;          // onDrained() once the queue is below this
    std::chrono::milliseconds requestTimeout{15000};  // to send a whole request
    std::chrono::milliseconds idleTimeout{60000};     // between keep-alive requests
    // A reader that takes nothing for this long is closed (nginx's send_timeout): it is
    // not reading, not merely slow. Taking is what the kernel sees the peer acknowledge.
    std::chrono::milliseconds sendTimeout{60000};
    std::chrono::milliseconds lingerTime{5000};  // the most a closing connection reads on
    std::size_t lingerBytes = 64 * 1024 * 1024;  // and the most it discards
    int socketSendBuffer = 0;                    // SO_SNDBUF for accepted sockets; 0: the kernel's
    bool ioUring = true;                         // batch each turn's writes through io_uring when the kernel allows
};

// What a connection needs from the server that accepted it.
class ConnectionHost {
public:
    virtual const HttpLimits& limits() const = 0;
    virtual asio::io_context& io() = 0;
    virtual void dispatch(HttpRequest& request, const std::shared_ptr<HttpConnection>& connection) = 0;
    // Lists the connection for the end-of-turn flush.
    virtual void scheduleFlush(const std::shared_ptr<HttpConnection>& connection) = 0;
    // What the poller waits for on `fd`.
    virtual void watch(int fd, bool readable, bool writable) = 0;
    // Stops watching `fd`; returns the owner's reference to its connection.
    virtual std::shared_ptr<HttpConnection> release(int fd) = 0;
    virtual void countRequest() = 0;
    virtual void countSlowDisconnect() = 0;
    // The CORS lines of an answer to a request from `origin`.
    // Shared: a connection holds a pointer, not its own copy of the same few lines.
    virtual std::shared_ptr<const std::string> corsHeaders(std::string_view origin) = 0;
    // The TLS context of this port (nullptr: plaintext).
    virtual const TlsContext* tls() const { return nullptr; }
    // Destroys `attachment` on a later turn: its own code may be on the stack now.
    virtual void retire(std::unique_ptr<Attachment> attachment) {
        std::shared_ptr<Attachment> later(std::move(attachment));
        asio::post(io(), [later] {});
    }

protected:
    ~ConnectionHost() = default;
};

class HttpConnection final : public std::enable_shared_from_this<HttpConnection>, public SendTarget {
public:
    using Clock = std::chrono::steady_clock;

    // `fd`: a connected, non-blocking socket, watched by the host for reading; `peer`: the
    // client's address.
    HttpConnection(int fd, ConnectionHost& host, std::string peer = {});
    ~HttpConnection();
    HttpConnection(const HttpConnection&) = delete;
    HttpConnection& operator=(const HttpConnection&) = delete;

    void start();
    // Accepted past a connection limit: answers at once (503 overloaded, or 429 for too
    // many from one address), then closes as any answer with Connection: close does
    // (lingering), without reading a request.
    void refuse(protocol::ErrorCode code, std::string_view message);
    const std::string& peer() const { return peer_; }
    // The CORS lines of the current request's answer (set from its Origin).
    const std::string& corsHeaders() const { return *cors_; }
    // This answer is for no web page: no CORS lines (the metrics).
    void noCors();
    // "Access-Control-Allow-Origin: *": the CORS line of a server with no origin list.
    static const std::shared_ptr<const std::string>& anyOriginCors();
    // At `when`, the attachment's onExpired() (checked by the sweep).
    void expireAt(Clock::time_point when);

    // Completes the current request. Common headers (length, CORS, connection) are added;
    // a HEAD request gets the head alone, with the length the body would have had.
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
    // Answers the handshake (101) and hands the connection to `handler`; returns the link
    // to send frames on, which lives as long as the connection. Null (after answering 400)
    // when the handshake is invalid. A peer silent for `idleLimit` is closed as dead.
    WebSocketLink* acceptWebSocket(std::unique_ptr<WebSocketHandler> handler, std::size_t maxMessageBytes,
                                   std::chrono::milliseconds idleLimit);

    // Queues bytes that `owner` keeps alive. Returns false, and closes, when the queue
    // passes maxQueuedBytes.
    bool write(const char* bytes, std::size_t size, std::shared_ptr<const void> owner);
    bool write(std::string bytes);
    std::size_t queuedBytes() const { return queue_.bytes(); }
    // Calls the attachment's onDrained() once the queue is below drainBelowBytes.
    void notifyWhenDrained();
    // Writes what is queued now instead of at the end of the turn.
    void flushNow();

    // Closes once what is queued is written (after a short linger).
    void finish();
    // Closes now; what is queued is dropped.
    void close();
    // The server is going away: an idle keep-alive connection closes, a held long-poll is
    // answered now (as at its timeout), an event stream ends; requests in progress are
    // answered and then closed. WebSockets are closed by their transport (1001).
    void drain();
    // Everything said: only reading on so that the close is not a reset (or closed).
    bool done() const { return state_ == State::Lingering || state_ == State::Closed; }
    bool closing() const { return state_ == State::Closed; }

    // For the server: readiness from the poller, deadlines from its sweep.
    void onReady(std::uint32_t events);
    void checkDeadlines(Clock::time_point now);
    // Whether checkDeadlines(now) has anything to do (a cheap test for the sweep).
    bool dueForSweep(Clock::time_point now) const {
        return (hasDeadline_ && deadline_ <= now) || !queue_.empty() || stalledSince_ != Clock::time_point{} ||
               (hasExpiry_ && expiry_ <= now);
    }
    // For the flush list.
    bool flushListed() const { return flushListed_; }
    void setFlushListed(bool listed) { flushListed_ = listed; }
    // Bytes queued, no send blocked or in a submission, not closed.
    bool canSend() const { return !sendBlocked_ && !sendInFlight_ && !queue_.empty() && state_ != State::Closed; }

    // SendTarget
    int fd() const override { return fd_; }
    std::size_t gather(iovec* parts, std::size_t max) const override { return queue_.gather(parts, max); }
    void sendSubmitted() override { sendInFlight_ = true; }
    void sent(int result) override;

    // For the WebSocket link.
    void armDeadline(std::chrono::milliseconds after);

private:
    enum class State { Reading, Dispatching, Held, Streaming, WebSocket, Finishing, Lingering, Closed };

    void onReadable(bool hangUp);
    // Plaintext from the peer (decrypted, with TLS), by state.
    void consume(const char* bytes, std::size_t size);
    // Queues bytes for the socket as they are (TLS records, or plaintext without TLS).
    bool writeRaw(std::string bytes);
    bool queueBytes(const char* bytes, std::size_t size, std::shared_ptr<const void> owner);
    void processInbox();
    void dispatch(RequestHead& head, std::string body);
    void answerBadHead(const HeadError& error);
    void afterResponse();
    void writeQueued();
    void written(std::size_t bytes);
    void allWritten();
    void startLinger();
    void onDeadline();
    void finishClose();
    void detachAttachment();

    int fd_;
    ConnectionHost& host_;
    std::string peer_;
    // The request in hand, for the log (method, its first 11 characters, and path; never
    // the query). A fixed array: the method of every idle connection costs no heap.
    char logMethod_[12] = {};
    std::string logPath_;
    Clock::time_point requestStart_{};
    void accessLog(int status, std::size_t bytes);
    // The TLS session failed: logged with OpenSSL's reason; plain HTTP sent to this TLS
    // port is answered in plain text to use https://; closed once the alert or answer is out.
    void tlsFailed();
    std::unique_ptr<TlsSession> tls_;
    std::shared_ptr<const std::string> cors_ = anyOriginCors();
    Clock::time_point expiry_{};
    bool hasExpiry_ = false;
    State state_ = State::Reading;
    bool keepAlive_ = true;
    bool headRequest_ = false;
    bool sendBlocked_ = false;   // the socket took less than queued: waiting until writable
    bool sendInFlight_ = false;  // the queue is in an io_uring submission
    bool flushListed_ = false;
    bool wantDrain_ = false;
    bool sentContinue_ = false;
    bool peerDone_ = false;   // the peer closed its side while we were finishing
    bool tlsFailed_ = false;  // the TLS session failed: what follows is not read
    bool hasDeadline_ = false;
    Clock::time_point deadline_{};
    // Stall detection by the sweep: the queue's progress when last seen, and since when
    // it has not moved.
    std::uint64_t progressSeen_ = 0;
    int unackedSeen_ = -1;  // the socket's unacknowledged bytes then (SIOCOUTQ; -1: unknown)
    Clock::time_point stalledSince_{};
    std::size_t lingered_ = 0;  // bytes discarded while lingering
    std::string inbox_;
    HeadScan headScan_;
    // A head read whole whose body is still arriving: parsed once, not on every read.
    std::unique_ptr<RequestHead> pending_;
    std::size_t pendingHeadBytes_ = 0;
    std::unique_ptr<websocketpp::http::parser::request> upgradeRequest_;
    std::unique_ptr<WebSocketLink> link_;
    std::unique_ptr<Attachment> attachment_;
    WriteQueue queue_;
};

using HttpConnectionPtr = std::shared_ptr<HttpConnection>;

// "HTTP/1.1 200 OK\r\n".
std::string statusLine(int status);
void appendStatusLine(std::string& out, int status);
std::string_view statusText(int status);

}  // namespace pushwire::server
