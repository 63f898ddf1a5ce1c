#include "front/http_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "auth/access_policy.hpp"
#include "front/log.hpp"

namespace pushwire::server {

using protocol::ErrorCode;

namespace {

std::string peerName(const sockaddr_storage& address) {
    char text[INET6_ADDRSTRLEN] = {};
    if (address.ss_family == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(address).sin_addr, text, sizeof text);
    } else if (address.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(address).sin6_addr, text, sizeof text);
    }
    return text;
}

constexpr int kMaxAcceptsPerWake = 256;  // then other work gets a turn
constexpr unsigned kSendBatch = 256;     // sends per io_uring submission

}  // namespace

HttpServer::HttpServer(asio::io_context& io, HttpLimits limits, ConnectionBudget& budget)
    : io_(io),
      limits_(limits),
      budget_(budget),
      acceptor_(io),
      acceptRetry_(io),
      sweep_(io),
      flushDelay_(io),
      poller_(io) {
    std::string why = "turned off";
    if (limits_.ioUring) sender_ = Sender::create(kSendBatch, why);
    writePath_ = sender_ ? "io_uring" : "sendmsg (io_uring: " + why + ")";
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::route(const std::string& path, Handler handler) { routes_[path] = std::move(handler); }

void HttpServer::routePrefix(const std::string& prefix, Handler handler) {
    prefixRoutes_.emplace_back(prefix, std::move(handler));
}

void HttpServer::fallback(Handler handler) { fallback_ = std::move(handler); }

void HttpServer::listen(const std::string& host, unsigned short port, bool reusePort) {
    asio::ip::tcp::resolver resolver(io_);
    auto endpoints = resolver.resolve(host, std::to_string(port));
    asio::ip::tcp::endpoint endpoint = endpoints.begin()->endpoint();
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true));
    if (reusePort) acceptor_.set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(4096);
    acceptor_.non_blocking(true);
    accept();
    sweep();
}

// Every 200 ms: time out the connections whose deadline passed (a request not sent in
// time, an idle keep-alive, a long-poll's hold, a linger) and close readers that stopped
// reading. 10,000 connections take ~50 µs.
void HttpServer::sweep() {
    sweep_.expires_after(std::chrono::milliseconds(200));
    sweep_.async_wait([this](const std::error_code& ec) {
        if (ec || stopped_) return;
        const auto now = HttpConnection::Clock::now();
        std::vector<HttpConnectionPtr> due;
        poller_.forEach([&due, now](HttpConnection& connection) {
            if (connection.dueForSweep(now)) due.push_back(connection.shared_from_this());
        });
        for (auto& connection : due) connection->checkDeadlines(now);
        sweep();
    });
}

std::size_t HttpServer::queuedBytes() const {
    std::size_t total = 0;
    poller_.forEach([&total](HttpConnection& connection) { total += connection.queuedBytes(); });
    return total;
}

unsigned short HttpServer::port() const {
    std::error_code ec;
    return acceptor_.local_endpoint(ec).port();
}

// Waits for the listening socket, then accepts what is pending with accept4 (already
// non-blocking): the new socket never passes through asio's reactor.
void HttpServer::accept() {
    acceptor_.async_wait(asio::ip::tcp::acceptor::wait_read, [this](const std::error_code& ec) {
        if (stopped_ || ec) return;
        acceptReady();
    });
}

void HttpServer::acceptReady() {
    for (int i = 0; i < kMaxAcceptsPerWake; ++i) {
        sockaddr_storage address{};
        socklen_t addressLength = sizeof address;
        const int fd = ::accept4(acceptor_.native_handle(), reinterpret_cast<sockaddr*>(&address), &addressLength,
                                 SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (errno == EINTR || errno == ECONNABORTED) continue;
            // Out of file descriptors (or a transient error): try again shortly rather than
            // spinning or giving up on accepting forever.
            acceptRetry_.expires_after(std::chrono::milliseconds(50));
            acceptRetry_.async_wait([this](const std::error_code& e) {
                if (!e && !stopped_) accept();
            });
            return;
        }
        std::string peer = peerName(address);
        const bool overLimit = budget_.open >= budget_.max;
        const bool overPeer = !overLimit && budget_.maxPerPeer > 0 && !isLoopbackPeer(peer) &&
                              budget_.perPeer[peer] >= budget_.maxPerPeer;
        if ((overLimit || overPeer) && budget_.refusing >= budget_.maxRefusing) {
            ++(overLimit ? refused_ : refusedPerPeer_);
            ::close(fd);  // a flood: no answer, and no state kept for it (the log is rate-limited)
            log::write(log::Level::Warn, "refused",
                       {log::num("status", overLimit ? 503 : 429),
                        {"peer", peer},
                        {"error", overLimit ? "at --max-connections, already refusing many: closed unanswered"
                                            : "at --max-connections-per-ip, already refusing many: closed unanswered"}},
                       true);
            continue;
        }
        auto connection = std::make_shared<HttpConnection>(fd, *this, peer);
        if (!poller_.add(fd, connection)) continue;  // its destructor closes fd
        if (sender_) sender_->registerSocket(fd);
        connection->start();
        if (overLimit || overPeer) {
            ++(overLimit ? refused_ : refusedPerPeer_);
            ++budget_.refusing;
            refusingFds_.push_back(fd);
            if (overLimit) {
                connection->refuse(ErrorCode::Overloaded,
                                   "the server holds its maximum of connections; try again later");
            } else {
                connection->refuse(ErrorCode::RateLimited, "your address holds its maximum of " +
                                                               std::to_string(budget_.maxPerPeer) + " connections");
            }
        } else {
            ++budget_.open;
            ++budget_.perPeer[peer];
            peerOf_[fd] = std::move(peer);
        }
    }
    accept();
}

std::shared_ptr<HttpConnection> HttpServer::release(int fd) {
    auto connection = poller_.remove(fd);
    if (!connection) return connection;
    if (sender_) sender_->unregisterSocket(fd);
    auto refusing = std::find(refusingFds_.begin(), refusingFds_.end(), fd);
    if (refusing != refusingFds_.end()) {
        *refusing = refusingFds_.back();
        refusingFds_.pop_back();
        --budget_.refusing;
    } else {
        --budget_.open;
        auto peer = peerOf_.find(fd);
        if (peer != peerOf_.end()) {
            auto count = budget_.perPeer.find(peer->second);
            if (count != budget_.perPeer.end() && --count->second == 0) budget_.perPeer.erase(count);
            peerOf_.erase(peer);
        }
    }
    return connection;
}

void HttpServer::scheduleFlush(const HttpConnectionPtr& connection) {
    if (!flushList_.add(connection)) return;
    using namespace std::chrono;
    const auto now = steady_clock::now();
    // Back to back with a flush that took a while: let the next one gather more.
    if (lastFlushTook_ > microseconds(500) && now - lastFlushEnd_ < microseconds(200)) {
        flushDelay_.expires_after(std::min<steady_clock::duration>(lastFlushTook_, milliseconds(5)));
        flushDelay_.async_wait([this](const std::error_code& ec) {
            if (!ec) flushAll();
        });
        return;
    }
    asio::post(io_, [this] { flushAll(); });
}

void HttpServer::retire(std::unique_ptr<Attachment> attachment) {
    retired_.push_back(std::move(attachment));
    if (retired_.size() > 1) return;
    asio::post(io_, [this] {
        std::vector<std::unique_ptr<Attachment>> done;
        done.swap(retired_);
        done.clear();                               // a destructor may retire another: it goes to retired_, posted anew
        if (retired_.empty()) retired_.swap(done);  // keep the capacity
    });
}

void HttpServer::flushAll() {
    const auto started = std::chrono::steady_clock::now();
    std::vector<HttpConnectionPtr>& connections = flushing_;
    flushList_.take(connections);
    if (connections.empty()) return;
    if (writesWithIoUring()) {
        for (auto& connection : connections) {
            if (connection->canSend()) sender_->add(std::move(connection));
        }
        sender_->submit();
    } else {
        for (auto& connection : connections) connection->flushNow();
    }
    connections.clear();  // the capacity stays for the next turn
    lastFlushEnd_ = std::chrono::steady_clock::now();
    lastFlushTook_ = lastFlushEnd_ - started;
}

void HttpServer::dispatch(HttpRequest& request, const HttpConnectionPtr& connection) {
    if (request.method == "OPTIONS") {
        connection->respond(204, "text/plain", "",
                            "Access-Control-Allow-Methods: GET, POST, OPTIONS\r\n"
                            "Access-Control-Allow-Headers: Content-Type, Last-Event-ID, Authorization\r\n"
                            "Access-Control-Max-Age: 86400\r\n");
        return;
    }
    auto it = routes_.find(request.path);
    if (it != routes_.end()) {
        it->second(request, connection);
        return;
    }
    for (auto& [prefix, handler] : prefixRoutes_) {
        if (request.path.compare(0, prefix.size(), prefix) == 0) {
            handler(request, connection);
            return;
        }
    }
    if (fallback_) {
        fallback_(request, connection);
    } else {
        connection->respondError(ErrorCode::NotFound, "no such URL: " + request.path);
    }
}

void HttpServer::drain() {
    std::error_code ignored;
    acceptor_.close(ignored);
    acceptRetry_.cancel();
    std::vector<HttpConnectionPtr> connections;
    poller_.forEach(
        [&connections](HttpConnection& connection) { connections.push_back(connection.shared_from_this()); });
    for (const auto& connection : connections) connection->drain();
}

std::size_t HttpServer::busy() {
    std::size_t count = 0;
    poller_.forEach([&count](HttpConnection& connection) { count += connection.done() ? 0 : 1; });
    return count;
}

void HttpServer::stop() {
    if (stopped_) return;
    stopped_ = true;
    std::error_code ignored;
    acceptor_.close(ignored);
    acceptRetry_.cancel();
    sweep_.cancel();
    flushDelay_.cancel();
    poller_.forEach([](HttpConnection& connection) { connection.close(); });
}

}  // namespace pushwire::server
