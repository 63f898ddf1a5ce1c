#include "front/http_server.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>

#include "front/websocket_framing.hpp"

namespace pushwire::server {

using protocol::ErrorCode;

namespace {

constexpr std::size_t kMaxHeldInbox = 64 * 1024;  // pipelined bytes kept behind a parked request
constexpr int kMaxAcceptsPerWake = 256;           // then other work gets a turn
constexpr unsigned kSendBatch = 256;              // sends per io_uring submission

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
    return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

std::string_view statusText(int status) {
    switch (status) {
        case 100: return "Continue";
        case 200: return "OK";
        case 204: return "No Content";
        case 304: return "Not Modified";
        case 400: return "Bad Request";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 411: return "Length Required";
        case 413: return "Payload Too Large";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 503: return "Service Unavailable";
        default: return "Unknown";
    }
}

std::string statusLine(int status) {
    return "HTTP/1.1 " + std::to_string(status) + " " + std::string(statusText(status)) + "\r\n";
}

// ---------------------------------------------------------------- HttpConnection

// `fd` is a connected, non-blocking socket; the server's Poller watches it.
HttpConnection::HttpConnection(int fd, HttpServer& server) : fd_(fd), server_(server) {}

HttpConnection::~HttpConnection() {
    if (attachment_) attachment_->onClose();
    if (fd_ >= 0) ::close(fd_);
}

void HttpConnection::start() {
    int on = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    armTimer(server_.limits().requestTimeout);
}

void HttpConnection::onReady(std::uint32_t events) {
    if (events & EPOLLOUT) writeQueued();
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) onReadable((events & (EPOLLHUP | EPOLLERR)) != 0);
}

// Reads into one buffer shared by the loop, not one per connection: an idle parked
// connection holds no read buffer at all.
void HttpConnection::onReadable(bool hangUp) {
    if (closing_) return;
    thread_local char buffer[16 * 1024];
    const ssize_t got = ::recv(fd_, buffer, sizeof buffer, 0);
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) && !hangUp) return;
    if (got <= 0) {  // EOF: the peer went away (or half-closed; we treat both as gone)
        close();
        return;
    }
    const auto n = static_cast<std::size_t>(got);
    if (state_ == State::Streaming) {
        // An event stream is one-way: whatever the client sends is ignored.
    } else if (state_ == State::WebSocket) {
        readWebSocket(buffer, n);
    } else if (state_ == State::Done) {
        // Closing: drain and ignore.
    } else if (state_ == State::Held && inbox_.size() + n > kMaxHeldInbox) {
        close();
        return;
    } else {
        inbox_.append(buffer, n);
        if (state_ == State::Reading) processInbox();
    }
}

void HttpConnection::processInbox() {
    while (state_ == State::Reading && !inbox_.empty() && !closing_) {
        if (!parser_) {
            parser_ = std::make_unique<websocketpp::http::parser::request>();
            parser_->set_max_body_size(server_.limits().maxBodyBytes);
            sentContinue_ = false;
            armTimer(server_.limits().requestTimeout);
        }
        std::size_t used = 0;
        try {
            used = parser_->consume(inbox_.data(), inbox_.size());
        } catch (const websocketpp::http::exception& e) {
            parser_.reset();
            inbox_.clear();
            keepAlive_ = false;
            int status = static_cast<int>(e.m_error_code);
            ErrorCode code = status == 413   ? ErrorCode::TooLarge
                             : status == 431 ? ErrorCode::TooLarge
                                             : ErrorCode::BadRequest;
            state_ = State::Dispatching;
            respond(status == 413 || status == 431 ? status : 400, "application/json",
                    protocol::errorBody(code, "malformed HTTP request: " + e.m_msg));
            return;
        }
        inbox_.erase(0, used);
        if (inbox_.empty()) std::string().swap(inbox_);  // an idle connection keeps no buffer
        if (!parser_->ready()) {
            if (!sentContinue_ && equalsIgnoreCase(parser_->get_header("Expect"), "100-continue")) {
                sentContinue_ = true;
                write(std::string("HTTP/1.1 100 Continue\r\n\r\n"));
            }
            return;
        }
        dispatch();
    }
}

void HttpConnection::dispatch() {
    HttpRequest request;
    request.method = parser_->get_method();
    request.target = parser_->get_uri();
    const std::string& version = parser_->get_version();
    std::string_view connection = parser_->get_header("Connection");
    request.keepAlive =
        version == "HTTP/1.1" ? !equalsIgnoreCase(connection, "close") : equalsIgnoreCase(connection, "keep-alive");
    for (const auto& [name, value] : parser_->get_headers()) request.headers.emplace_back(name, value);
    const bool chunked = !parser_->get_header("Transfer-Encoding").empty();
    request.body = parser_->get_body();
    if (equalsIgnoreCase(parser_->get_header("Upgrade"), "websocket")) {
        upgradeRequest_ = std::move(parser_);  // the handshake needs the parsed request
    }
    parser_.reset();
    keepAlive_ = request.keepAlive;
    state_ = State::Dispatching;
    cancelTimer();
    ++server_.requests_;

    if (chunked) {
        keepAlive_ = false;  // the body bytes would otherwise be read as the next request
        respond(411, "application/json",
                protocol::errorBody(ErrorCode::BadRequest,
                                    "chunked request bodies are not supported; send Content-Length"));
        return;
    }
    if (!splitTarget(request.target, request.path, request.query)) {
        respondError(ErrorCode::BadRequest, "the URL has a malformed %-escape");
        return;
    }
    auto self = shared_from_this();
    try {
        server_.dispatch(request, self);
    } catch (const std::exception& e) {
        if (state_ == State::Dispatching) {
            respondError(ErrorCode::Internal, std::string("internal error: ") + e.what());
        }
        return;
    }
    if (state_ == State::Dispatching) {
        respondError(ErrorCode::Internal, "the handler gave no response");
    }
    upgradeRequest_.reset();
}

void HttpConnection::respond(int status, std::string_view contentType, std::string body,
                             std::string_view extraHeaders) {
    if (closing_ || (state_ != State::Dispatching && state_ != State::Held)) return;
    std::string head = statusLine(status);
    head += "Content-Type: ";
    head += contentType;
    head += "\r\nContent-Length: ";
    head += std::to_string(body.size());
    head += "\r\nCache-Control: no-store\r\nAccess-Control-Allow-Origin: *\r\n";
    head += keepAlive_ ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
    head += extraHeaders;
    head += "\r\n";
    head += body;
    write(std::move(head));
    // One answer per request: nothing to coalesce with, so it leaves now rather than at
    // the end of the turn (a fan-out waking 1000 long-polls would otherwise hold the
    // first answer until the last is encoded). Streams keep the per-turn flush.
    flushNow();
    afterResponse();
}

void HttpConnection::respondError(ErrorCode code, std::string_view message) {
    respond(protocol::httpStatus(code), "application/json", protocol::errorBody(code, message));
}

void HttpConnection::afterResponse() {
    const bool wasHeld = state_ == State::Held;
    if (attachment_) {
        // The attachment may be the caller: destroy it on the loop, not under its feet.
        std::shared_ptr<Attachment> finished(std::move(attachment_));
        finished->onClose();
        asio::post(server_.io(), [finished] {});
    }
    if (!keepAlive_) {
        state_ = State::Done;
        closeAfterWrite_ = true;
        if (!writing_ && queue_.empty()) close();
        return;
    }
    state_ = State::Reading;
    armTimer(server_.limits().idleTimeout);
    if (wasHeld && !inbox_.empty()) {
        asio::post(server_.io(), [self = shared_from_this()] { self->processInbox(); });
    }
}

void HttpConnection::hold(std::unique_ptr<Attachment> attachment, std::chrono::milliseconds timeout) {
    if (state_ != State::Dispatching) return;
    state_ = State::Held;
    attachment_ = std::move(attachment);
    if (timeout.count() > 0) armTimer(timeout);
}

void HttpConnection::beginStream(std::string head, std::unique_ptr<Attachment> attachment) {
    if (state_ != State::Dispatching) return;
    state_ = State::Streaming;
    keepAlive_ = false;
    inbox_.clear();
    inbox_.shrink_to_fit();
    attachment_ = std::move(attachment);
    write(std::move(head));
}

bool HttpConnection::write(asio::const_buffer bytes, std::shared_ptr<const void> owner) {
    if (closing_) return false;
    queue_.push_back(Chunk{bytes, std::move(owner)});
    queuedBytes_ += bytes.size();
    if (queuedBytes_ > server_.limits().maxQueuedBytes) {
        ++server_.slowDisconnects_;
        close();
        return false;
    }
    flush();
    return true;
}

bool HttpConnection::write(std::string bytes) {
    auto owned = std::make_shared<const std::string>(std::move(bytes));
    asio::const_buffer view(owned->data(), owned->size());
    return write(view, std::move(owned));
}

void HttpConnection::flush() {
    if (flushScheduled_ || !canSend()) return;
    flushScheduled_ = true;
    server_.scheduleFlush(shared_from_this());
}

bool HttpConnection::takeScheduled() {
    flushScheduled_ = false;
    return canSend();
}

// Writes what is queued now, directly: one sendmsg of everything queued when the socket
// takes it all, which is the common case.
void HttpConnection::flushNow() {
    if (takeScheduled()) writeQueued();
}

std::size_t HttpConnection::gather(iovec* parts, std::size_t max) const {
    std::size_t count = 0;
    for (; count < queue_.size() && count < max; ++count) {
        parts[count].iov_base = const_cast<void*>(queue_[count].bytes.data());
        parts[count].iov_len = queue_[count].bytes.size();
    }
    return count;
}

void HttpConnection::consumed(std::size_t written) {
    queuedBytes_ -= std::min(queuedBytes_, written);
    std::size_t done = 0;
    while (done < queue_.size() && written >= queue_[done].bytes.size()) written -= queue_[done++].bytes.size();
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(done));
    if (!queue_.empty() && written > 0) queue_.front().bytes += written;
}

void HttpConnection::sent(int result) {
    if (closing_) return;
    if (result < 0 && result != -EAGAIN && result != -EWOULDBLOCK && result != -EINTR) {
        close();
        return;
    }
    if (result > 0) consumed(static_cast<std::size_t>(result));
    writeQueued();  // the rest, if the socket took only part; or the close after the last byte
}

// Sends until the queue is empty or the socket is full; a full socket is watched for
// writability (writing_), and later writes queue behind it until then.
void HttpConnection::writeQueued() {
    if (closing_) return;
    while (!queue_.empty()) {
        iovec parts[Sender::kMaxGather];
        const std::size_t count = gather(parts, Sender::kMaxGather);
        msghdr message{};
        message.msg_iov = parts;
        message.msg_iovlen = count;
        const ssize_t sent = ::sendmsg(fd_, &message, MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                close();
                return;
            }
            if (!writing_) server_.poller_.wantWrite(fd_, true);
            writing_ = true;
            return;
        }
        consumed(static_cast<std::size_t>(sent));
    }
    if (writing_) {
        writing_ = false;
        server_.poller_.wantWrite(fd_, false);
    }
    if (closeAfterWrite_) {
        ::shutdown(fd_, SHUT_WR);
        close();
    }
}

void HttpConnection::armTimer(std::chrono::milliseconds after) {
    deadline_ = std::chrono::steady_clock::now() + after;
    hasDeadline_ = true;
}

void HttpConnection::onTimer() {
    if (closing_) return;
    if (state_ == State::WebSocket) {
        closeWebSocket(protocol::kCloseGoingAway, "no pong: connection considered dead");
        close();  // the close frame cannot be expected to get through a dead link
    } else if (state_ == State::Held && attachment_) {
        attachment_->onTimeout();
    } else if (state_ == State::Reading) {
        if (parser_ || !inbox_.empty()) {
            keepAlive_ = false;
            state_ = State::Dispatching;
            parser_.reset();
            respond(408, "application/json",
                    protocol::errorBody(ErrorCode::BadRequest, "the request was not completed in time"));
        } else {
            close();  // idle keep-alive connection
        }
    }
}

void HttpConnection::close() {
    if (closing_) return;
    closing_ = true;
    asio::post(server_.io(), [self = shared_from_this()] { self->finishClose(); });
}

void HttpConnection::finishClose() {
    cancelTimer();
    // The poller owned this connection; `self` (the caller's) keeps it to the end.
    auto owner = server_.poller_.remove(fd_);
    ::close(fd_);
    fd_ = -1;
    state_ = State::Done;
    if (attachment_) {
        auto finished = std::move(attachment_);
        finished->onClose();
    }
    queue_.clear();
    queuedBytes_ = 0;
}

// ---------------------------------------------------------------- HttpServer

HttpServer::HttpServer(asio::io_context& io, HttpLimits limits)
    : io_(io), limits_(limits), acceptor_(io), acceptRetry_(io), sweep_(io), poller_(io) {
    std::string why = "turned off";
    if (limits_.ioUring) sender_ = Sender::create(kSendBatch, why);
    writePath_ = sender_ ? "io_uring" : "sendmsg (io_uring: " + why + ")";
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::route(const std::string& path, Handler handler) { routes_[path] = std::move(handler); }

void HttpServer::fallback(Handler handler) { fallback_ = std::move(handler); }

void HttpServer::listen(const std::string& host, unsigned short port) {
    asio::ip::tcp::resolver resolver(io_);
    auto endpoints = resolver.resolve(host, std::to_string(port));
    asio::ip::tcp::endpoint endpoint = endpoints.begin()->endpoint();
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(4096);
    acceptor_.non_blocking(true);
    accept();
    sweep();
}

// Every 200 ms: time out the connections whose deadline passed (a request not sent in
// time, an idle keep-alive, a long-poll's hold). 10,000 connections take ~50 µs.
void HttpServer::sweep() {
    sweep_.expires_after(std::chrono::milliseconds(200));
    sweep_.async_wait([this](const std::error_code& ec) {
        if (ec || stopped_) return;
        const auto now = std::chrono::steady_clock::now();
        std::vector<std::shared_ptr<HttpConnection>> expired;
        poller_.forEach([&](HttpConnection& connection) {
            if (connection.hasDeadline_ && connection.deadline_ <= now && !connection.closing_) {
                connection.hasDeadline_ = false;
                expired.push_back(connection.shared_from_this());
            }
        });
        for (auto& connection : expired) connection->onTimer();
        sweep();
    });
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
        const int fd = ::accept4(acceptor_.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
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
        if (poller_.size() >= limits_.maxConnections) {
            std::string body =
                protocol::errorBody(ErrorCode::Overloaded, "the server holds its maximum of connections");
            std::string reply = statusLine(503) +
                                "Content-Type: application/json\r\nConnection: close\r\n"
                                "Content-Length: " +
                                std::to_string(body.size()) + "\r\n\r\n" + body;
            [[maybe_unused]] ssize_t ignored = ::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
            ::close(fd);
            continue;
        }
        auto connection = std::make_shared<HttpConnection>(fd, *this);
        if (!poller_.add(fd, connection)) continue;  // its destructor closes fd
        connection->start();
    }
    accept();
}

void HttpServer::scheduleFlush(std::shared_ptr<HttpConnection> connection) {
    dirty_.push_back(std::move(connection));
    if (flushPosted_) return;
    flushPosted_ = true;
    asio::post(io_, [this] { flushAll(); });
}

void HttpServer::flushAll() {
    flushPosted_ = false;
    std::vector<std::shared_ptr<HttpConnection>> dirty;
    dirty.swap(dirty_);
    if (writesWithIoUring()) {
        for (auto& connection : dirty) {
            if (connection->takeScheduled()) sender_->add(std::move(connection));
        }
        sender_->submit();
        return;
    }
    for (auto& connection : dirty) connection->flushNow();
}

void HttpServer::dispatch(HttpRequest& request, const HttpConnectionPtr& connection) {
    if (request.method == "OPTIONS") {
        connection->respond(204, "text/plain", "",
                            "Access-Control-Allow-Methods: GET, POST, OPTIONS\r\n"
                            "Access-Control-Allow-Headers: Content-Type, Last-Event-ID\r\n"
                            "Access-Control-Max-Age: 86400\r\n");
        return;
    }
    auto it = routes_.find(request.path);
    if (it != routes_.end()) {
        it->second(request, connection);
    } else if (fallback_) {
        fallback_(request, connection);
    } else {
        connection->respondError(ErrorCode::NotFound, "no such URL: " + request.path);
    }
}

void HttpServer::stop() {
    if (stopped_) return;
    stopped_ = true;
    std::error_code ignored;
    acceptor_.close(ignored);
    acceptRetry_.cancel();
    sweep_.cancel();
    poller_.forEach([](HttpConnection& connection) { connection.close(); });
}

}  // namespace pushwire::server
