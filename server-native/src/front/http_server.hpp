// The HTTP front: accepts connections on one port, routes their requests, writes what
// they queued once per turn of the loop, and times them out. Requests are parsed by
// websocketpp's HTTP parser behind pushwire's own checks (http_head.hpp); sockets are
// watched by one level-triggered epoll set (Poller) and written with one io_uring
// submission per turn (Sender), or one sendmsg each where io_uring is not available.
//
// Threading: everything here runs on the one thread that runs the io_context.
#pragma once

#include <asio.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "front/flush_list.hpp"
#include "front/http_connection.hpp"
#include "front/http_request.hpp"
#include "front/poller.hpp"
#include "front/sender.hpp"
#include "front/websocket_link.hpp"

namespace pushwire::server {

// Connections held at once, over every port of the server: --max-connections is one
// limit, not one per port.
struct ConnectionBudget {
    std::size_t max = 19000;
    std::size_t open = 0;
    std::size_t maxPerPeer = 0;  // connections one address may hold (0: no limit)
    std::unordered_map<std::string, std::size_t> perPeer;
    // Accepted past the limit only to be told 503 and closed after a linger; beyond this
    // many at once a refused connection is closed without an answer.
    std::size_t maxRefusing = 256;
    std::size_t refusing = 0;
};

class HttpServer final : public ConnectionHost {
public:
    using Handler = std::function<void(HttpRequest&, const HttpConnectionPtr&)>;

    HttpServer(asio::io_context& io, HttpLimits limits, ConnectionBudget& budget);
    ~HttpServer();

    void route(const std::string& path, Handler handler);
    // Every path starting with `prefix` (that no exact route takes), e.g. "/pushwire/api/".
    void routePrefix(const std::string& prefix, Handler handler);
    // The CORS lines of answers to requests from an origin; nullopt (and no policy at all)
    // is CORS * for all: the one shared HttpConnection::anyOriginCors().
    void cors(std::function<std::optional<std::string>(std::string_view origin)> policy) { cors_ = std::move(policy); }
    // HTTPS and WSS on this port (before listen()); the context outlives the server.
    void useTls(const TlsContext* context) { tls_ = context; }
    const TlsContext* tls() const override { return tls_; }
    void fallback(Handler handler);
    // Binds and listens (backlog 4096). Throws std::system_error when the port is taken.
    // `reusePort`: SO_REUSEPORT, so that several processes share the port (the kernel
    // spreads the connections over them).
    void listen(const std::string& host, unsigned short port, bool reusePort = false);
    unsigned short port() const;
    void stop();
    // Stops accepting and drains every connection (HttpConnection::drain).
    void drain();
    // Connections still with something to say (not closed, not lingering).
    std::size_t busy();

    std::size_t connectionCount() const { return poller_.size(); }
    // Bytes queued to every connection now (a walk over them: for a periodic look).
    std::size_t queuedBytes() const;
    std::uint64_t requestCount() const { return requests_; }
    std::uint64_t slowDisconnects() const { return slowDisconnects_; }
    std::uint64_t refusedConnections() const { return refused_; }
    std::uint64_t refusedPerPeer() const { return refusedPerPeer_; }
    // How writes leave: "io_uring", or "sendmsg (why io_uring is not used)".
    const std::string& writePath() const { return writePath_; }
    // True while writes go through io_uring (false without it, or once the ring failed).
    bool writesWithIoUring() const { return sender_ && !sender_->broken(); }

    // ConnectionHost
    const HttpLimits& limits() const override { return limits_; }
    asio::io_context& io() override { return io_; }
    void dispatch(HttpRequest& request, const HttpConnectionPtr& connection) override;
    void scheduleFlush(const HttpConnectionPtr& connection) override;
    void watch(int fd, bool readable, bool writable) override { poller_.watch(fd, readable, writable); }
    std::shared_ptr<HttpConnection> release(int fd) override;
    void countRequest() override { ++requests_; }
    void countSlowDisconnect() override { ++slowDisconnects_; }
    // Kept until the next turn, all in one list: an answered long-poll costs no posted
    // handler and no shared_ptr of its own.
    void retire(std::unique_ptr<Attachment> attachment) override;
    // Without a policy, the one shared "any origin" line. With one, interned: the distinct
    // answers are few (not allowed, one per allowed origin), so every connection shares one
    // copy of its own.
    std::shared_ptr<const std::string> corsHeaders(std::string_view origin) override {
        std::optional<std::string> answer = cors_ ? cors_(origin) : std::nullopt;
        if (!answer) return HttpConnection::anyOriginCors();
        std::string text = std::move(*answer);
        auto it = corsInterned_.find(text);
        if (it == corsInterned_.end()) {
            // Origins compare case-insensitively: spellings of an allowed one are not interned
            // past a few, so no client can grow the table.
            if (corsInterned_.size() >= 64) return std::make_shared<const std::string>(std::move(text));
            auto shared = std::make_shared<const std::string>(text);
            it = corsInterned_.emplace(std::move(text), std::move(shared)).first;
        }
        return it->second;
    }

private:
    std::unordered_map<std::string, std::shared_ptr<const std::string>> corsInterned_;
    void accept();
    void acceptReady();
    // The connections written this turn: one send of everything queued for each, all of
    // the turn's sends in one io_uring submission (or one sendmsg each without io_uring).
    void flushAll();
    void sweep();

    asio::io_context& io_;
    HttpLimits limits_;
    ConnectionBudget& budget_;
    asio::ip::tcp::acceptor acceptor_;
    asio::steady_timer acceptRetry_;
    asio::steady_timer sweep_;
    std::map<std::string, Handler, std::less<>> routes_;
    std::vector<std::pair<std::string, Handler>> prefixRoutes_;
    Handler fallback_;
    std::uint64_t requests_ = 0;
    std::uint64_t slowDisconnects_ = 0;  // readers that fell behind or stopped reading
    std::uint64_t refused_ = 0;          // accepted past --max-connections
    std::uint64_t refusedPerPeer_ = 0;   // past --max-connections-per-ip
    std::function<std::optional<std::string>(std::string_view)> cors_;
    const TlsContext* tls_ = nullptr;
    std::unordered_map<int, std::string> peerOf_;  // fd -> address, for the per-address count
    std::vector<int> refusingFds_;                 // which of ours count in budget_.refusing
    bool stopped_ = false;
    FlushList<HttpConnection> flushList_;
    std::vector<HttpConnectionPtr> flushing_;  // the turn's list while it is written
    // Adaptive coalescing: when flushes run back to back (the loop is saturated: a
    // fan-out per publication arriving one at a time, as from a remote broker), the
    // next flush waits about as long as the last one took, so that each connection's
    // send carries several messages. Idle or paced, every flush runs at the end of its turn.
    asio::steady_timer flushDelay_;
    std::chrono::steady_clock::time_point lastFlushEnd_{};
    std::chrono::steady_clock::duration lastFlushTook_{};
    std::unique_ptr<Sender> sender_;  // null: sendmsg per connection
    std::string writePath_;
    std::vector<std::unique_ptr<Attachment>> retired_;  // destroyed at the start of the next turn
    Poller poller_;                                     // last: its connections go before the rest of the server
};

}  // namespace pushwire::server
