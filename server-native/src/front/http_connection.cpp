#include "front/http_connection.hpp"

#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio/post.hpp>
#include <cerrno>
#include <cstring>
#include <websocketpp/http/request.hpp>

#include "front/log.hpp"
#include "front/websocket_link.hpp"
#include "pushwire/protocol/frames.hpp"

namespace pushwire::server {

namespace {

// The log's `error` field: {"code":"...","message":"..."} (an object in a JSON log line).
log::Field errorField(protocol::ErrorCode code, std::string_view message) {
    const std::string body = protocol::errorBody(code, message.substr(0, 300));
    return log::json("error", body.substr(9, body.size() - 10));  // {"error":X} -> X
}

log::Field errorOf(std::string_view contentType, const std::string& body) {
    if (contentType == "application/json") {
        if (auto error = protocol::decodeErrorBody(body)) return errorField(error->code, error->message);
    }
    return log::json("error", "null");
}

}  // namespace

using protocol::ErrorCode;

namespace {

constexpr std::size_t kMaxHeldInbox = 64 * 1024;  // pipelined bytes kept behind a parked request

}  // namespace

std::string_view statusText(int status) {
    switch (status) {
        case 100: return "Continue";
        case 200: return "OK";
        case 204: return "No Content";
        case 304: return "Not Modified";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 411: return "Length Required";
        case 413: return "Payload Too Large";
        case 426: return "Upgrade Required";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 503: return "Service Unavailable";
        default: return "Unknown";
    }
}

void appendStatusLine(std::string& out, int status) {
    out += "HTTP/1.1 ";
    out += std::to_string(status);
    out += ' ';
    out += statusText(status);
    out += "\r\n";
}

std::string statusLine(int status) {
    std::string out;
    appendStatusLine(out, status);
    return out;
}

HttpConnection::HttpConnection(int fd, ConnectionHost& host, std::string peer)
    : fd_(fd), host_(host), peer_(std::move(peer)) {
    if (const TlsContext* context = host_.tls()) tls_ = std::make_unique<TlsSession>(*context);
}

HttpConnection::~HttpConnection() {
    if (attachment_) attachment_->onClose();
    if (fd_ >= 0) ::close(fd_);
}

void HttpConnection::start() {
    int on = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    if (int size = host_.limits().socketSendBuffer; size > 0) {
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    }
    armDeadline(host_.limits().requestTimeout);
}

void HttpConnection::refuse(ErrorCode code, std::string_view message) {
    if (tls_) {
        // Nothing can be said before a handshake (and a flood gets none): the log says it.
        log::write(log::Level::Warn, "refused",
                   {log::num("status", protocol::httpStatus(code)), {"peer", peer_}, errorField(code, message)}, true);
        close();
        return;
    }
    state_ = State::Dispatching;
    keepAlive_ = false;
    respondError(code, message);
}

void HttpConnection::expireAt(Clock::time_point when) {
    expiry_ = when;
    hasExpiry_ = true;
}

// ---------------------------------------------------------------- reading

void HttpConnection::onReady(std::uint32_t events) {
    if (events & EPOLLOUT) writeQueued();
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) onReadable((events & (EPOLLHUP | EPOLLERR)) != 0);
}

// Reads into one buffer shared by the loop, not one per connection: an idle parked
// connection holds no read buffer at all.
void HttpConnection::onReadable(bool hangUp) {
    if (state_ == State::Closed) return;
    thread_local char buffer[16 * 1024];
    const ssize_t got = ::recv(fd_, buffer, sizeof buffer, 0);
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) && !hangUp) return;
    if (got <= 0) {
        // EOF or an error: the peer is gone (or has half-closed, which no client of ours
        // does before reading its answer). What is still being written may finish.
        if (state_ == State::Finishing && got == 0) {
            peerDone_ = true;                       // nothing more to read: close as soon as the bytes are out
            host_.watch(fd_, false, sendBlocked_);  // EOF stays readable: stop watching it
            return;
        }
        close();
        return;
    }
    const auto n = static_cast<std::size_t>(got);
    if (tls_ && state_ != State::Lingering) {
        if (tlsFailed_) return;
        // Bytes of the socket to plaintext; what the session must answer by itself (the
        // handshake) goes out raw.
        std::string plaintext;
        const bool ok = tls_->receive(buffer, n, plaintext);
        std::string own;
        tls_->drain(own);
        if (!own.empty()) writeRaw(std::move(own));
        if (!ok) {
            tlsFailed();
            return;
        }
        if (!plaintext.empty()) consume(plaintext.data(), plaintext.size());
        return;
    }
    consume(buffer, n);
}

void HttpConnection::tlsFailed() {
    if (tls_->failure().empty()) {  // the peer's close_notify: the end, not an error
        close();
        return;
    }
    log::write(log::Level::Info, "dropped", {{"reason", "tls: " + tls_->failure()}, {"peer", peer_}}, true);
    tlsFailed_ = true;
    if (tls_->plainHttp()) {
        // What nginx does: a browser or curl pointed at http:// learns why instead of
        // getting an empty reply.
        const std::string body =
            protocol::errorBody(protocol::ErrorCode::BadRequest, "this port speaks TLS: use https:// (or wss://)");
        writeRaw(statusLine(400) + "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                 "\r\nConnection: close\r\n\r\n" + body);
    }
    finish();  // the alert OpenSSL queued (or the answer) goes out first
}

void HttpConnection::consume(const char* buffer, std::size_t n) {
    switch (state_) {
        case State::Streaming:  // an event stream is one-way: what the client sends is ignored
        case State::Finishing: break;
        case State::Lingering:
            lingered_ += n;
            if (lingered_ > host_.limits().lingerBytes) close();
            break;
        case State::WebSocket:
            if (link_) link_->read(buffer, n, static_cast<WebSocketHandler*>(attachment_.get()));
            break;
        case State::Held:
        case State::Dispatching:
            if (inbox_.size() + n > kMaxHeldInbox) {
                log::write(
                    log::Level::Warn, "dropped",
                    {{"reason", "pipelined more than 64 KiB behind a request not yet answered"}, {"peer", peer_}},
                    true);
                close();
                return;
            }
            inbox_.append(buffer, n);
            break;
        case State::Reading:
            if (inbox_.empty() && !pending_) armDeadline(host_.limits().requestTimeout);
            inbox_.append(buffer, n);
            processInbox();
            break;
        case State::Closed: break;
    }
}

void HttpConnection::processInbox() {
    while (state_ == State::Reading && !inbox_.empty()) {
        if (!pending_) {
            auto end = headScan_.find(inbox_);
            if (!end) {
                if (inbox_.size() > kMaxHeadBytes) answerBadHead({431, "the request head is larger than 16000 bytes"});
                return;
            }
            if (*end > kMaxHeadBytes) {
                answerBadHead({431, "the request head is larger than 16000 bytes"});
                return;
            }
            const HttpLimits& limits = host_.limits();
            auto parsed = parseRequestHead(std::string_view(inbox_).substr(0, *end), limits.maxBodyBytes,
                                           limits.maxBatchBodyBytes, limits.batchPath);
            if (auto* error = std::get_if<HeadError>(&parsed)) {
                answerBadHead(*error);
                return;
            }
            pending_ = std::make_unique<RequestHead>(std::move(std::get<RequestHead>(parsed)));
            pendingHeadBytes_ = *end;
            sentContinue_ = false;
        }
        const std::size_t whole = pendingHeadBytes_ + pending_->contentLength;
        if (inbox_.size() < whole) {
            if (pending_->expectContinue && !sentContinue_) {
                sentContinue_ = true;
                write(std::string("HTTP/1.1 100 Continue\r\n\r\n"));
                flushNow();
            }
            return;
        }
        std::string body = inbox_.substr(pendingHeadBytes_, pending_->contentLength);
        inbox_.erase(0, whole);
        if (inbox_.empty()) std::string().swap(inbox_);  // an idle connection keeps no buffer
        std::unique_ptr<RequestHead> head = std::move(pending_);
        dispatch(*head, std::move(body));
    }
}

void HttpConnection::answerBadHead(const HeadError& error) {
    inbox_.clear();
    pending_.reset();
    keepAlive_ = false;
    headRequest_ = false;
    state_ = State::Dispatching;
    const std::size_t methodLength = std::min(error.method.size(), sizeof logMethod_ - 1);
    std::memcpy(logMethod_, error.method.data(), methodLength);
    logMethod_[methodLength] = '\0';
    logPath_ = error.path;
    const ErrorCode code = error.status == 413 || error.status == 431 ? ErrorCode::TooLarge : ErrorCode::BadRequest;
    respond(error.status, "application/json", protocol::errorBody(code, error.message));
}

void HttpConnection::dispatch(RequestHead& head, std::string body) {
    HttpRequest request;
    websocketpp::http::parser::request& parsed = *head.parsed;
    request.method = parsed.get_method();
    request.target = parsed.get_uri();
    request.keepAlive = head.keepAlive;
    request.headers.reserve(parsed.get_headers().size());
    for (const auto& [name, value] : parsed.get_headers()) request.headers.emplace_back(name, value);
    request.body = std::move(body);
    request.peer = peer_;
    const std::size_t methodLength = std::min(request.method.size(), sizeof logMethod_ - 1);
    std::memcpy(logMethod_, request.method.data(), methodLength);
    logMethod_[methodLength] = '\0';
    requestStart_ = Clock::now();
    cors_ = host_.corsHeaders(request.header("Origin"));
    if (head.upgradeWebSocket) upgradeRequest_ = std::move(head.parsed);  // the handshake needs it
    keepAlive_ = head.keepAlive;
    headRequest_ = head.head;
    state_ = State::Dispatching;
    hasDeadline_ = false;
    host_.countRequest();

    const bool targetOk = splitTarget(request.target, request.path, request.query);
    logPath_.assign(request.path, 0, 200);  // never the query: it may carry a token
    if (!targetOk) {
        respondError(ErrorCode::BadRequest, "the URL has a malformed %-escape");
        upgradeRequest_.reset();
        return;
    }
    auto self = shared_from_this();
    try {
        host_.dispatch(request, self);
    } catch (const std::exception& e) {
        if (state_ == State::Dispatching) {
            respondError(ErrorCode::Internal, std::string("internal error: ") + e.what());
        }
    }
    if (state_ == State::Dispatching) respondError(ErrorCode::Internal, "the handler gave no response");
    upgradeRequest_.reset();
}

// ---------------------------------------------------------------- answering

void HttpConnection::accessLog(int status, std::size_t bytes) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - requestStart_).count();
    log::write(log::Level::Info, "access",
               {{"method", std::string(logMethod_)},
                {"path", logPath_},
                log::num("status", status),
                log::num("bytes", static_cast<long long>(bytes)),
                log::num("ms", ms),
                {"peer", peer_}});
}

void HttpConnection::respond(int status, std::string_view contentType, std::string body,
                             std::string_view extraHeaders) {
    if (state_ != State::Dispatching && state_ != State::Held) return;
    // One allocation for the whole answer.
    const std::string_view text = statusText(status);
    const std::string length = std::to_string(body.size());
    std::string head;
    head.reserve(128 + text.size() + contentType.size() + cors_->size() + extraHeaders.size() +
                 (headRequest_ ? 0 : body.size()));
    appendStatusLine(head, status);
    head += "Content-Type: ";
    head += contentType;
    head += "\r\nContent-Length: ";
    head += length;
    head += "\r\n";
    // API answers are never cached; a static file says its own policy.
    if (extraHeaders.find("Cache-Control:") == std::string_view::npos) head += "Cache-Control: no-store\r\n";
    head += *cors_;
    head += keepAlive_ ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
    head += extraHeaders;
    head += "\r\n";
    if (!headRequest_) head += body;
    if (status >= 400) {
        // Every refusal, with its reason (the JSON body), once; a flood is summarized.
        log::write(status >= 500 ? log::Level::Warn : log::Level::Info, "refused",
                   {log::num("status", status),
                    {"method", std::string(logMethod_)},
                    {"path", logPath_},
                    {"peer", peer_},
                    errorOf(contentType, body)},
                   true);
    }
    if (log::access()) accessLog(status, body.size());
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
    detachAttachment();
    if (!keepAlive_) {
        finish();
        return;
    }
    state_ = State::Reading;
    headRequest_ = false;
    armDeadline(host_.limits().idleTimeout);
    if (wasHeld && !inbox_.empty()) {
        asio::post(host_.io(), [self = shared_from_this()] {
            if (self->state_ == State::Reading) {
                self->armDeadline(self->host_.limits().requestTimeout);
                self->processInbox();
            }
        });
    }
}

// The attachment may be the caller: it is told now and destroyed on a later turn.
void HttpConnection::detachAttachment() {
    if (!attachment_) return;
    std::unique_ptr<Attachment> finished = std::move(attachment_);
    finished->onClose();
    host_.retire(std::move(finished));
}

void HttpConnection::hold(std::unique_ptr<Attachment> attachment, std::chrono::milliseconds timeout) {
    if (state_ != State::Dispatching) return;
    state_ = State::Held;
    attachment_ = std::move(attachment);
    if (timeout.count() > 0) armDeadline(timeout);
}

void HttpConnection::beginStream(std::string head, std::unique_ptr<Attachment> attachment) {
    if (state_ != State::Dispatching) return;
    state_ = State::Streaming;
    keepAlive_ = false;
    std::string().swap(inbox_);
    attachment_ = std::move(attachment);
    if (log::access()) accessLog(200, 0);  // a stream: logged as it starts
    write(std::move(head));
}

WebSocketLink* HttpConnection::acceptWebSocket(std::unique_ptr<WebSocketHandler> handler, std::size_t maxMessageBytes,
                                               std::chrono::milliseconds idleLimit) {
    if (state_ != State::Dispatching || !upgradeRequest_) return nullptr;
    auto link = std::make_unique<WebSocketLink>(*this, maxMessageBytes, idleLimit);
    auto response = link->handshake(*upgradeRequest_);
    upgradeRequest_.reset();
    if (!response) {
        keepAlive_ = false;
        respondError(ErrorCode::BadRequest, "invalid WebSocket handshake: " + link->handshakeError());
        return nullptr;
    }
    link_ = std::move(link);
    state_ = State::WebSocket;
    keepAlive_ = false;
    armDeadline(idleLimit);
    attachment_ = std::move(handler);
    if (log::access()) accessLog(101, 0);
    write(std::move(*response));
    flushNow();
    // Frames that came with the handshake.
    if (!inbox_.empty()) {
        std::string early;
        early.swap(inbox_);
        link_->read(early.data(), early.size(), static_cast<WebSocketHandler*>(attachment_.get()));
    }
    return link_.get();
}

// ---------------------------------------------------------------- writing

bool HttpConnection::write(const char* bytes, std::size_t size, std::shared_ptr<const void> owner) {
    if (state_ == State::Closed || state_ == State::Lingering) return false;
    if (tls_) {
        // Encrypted as it is queued: the shared frame of a fan-out becomes this
        // connection's own records, which leave by the same batched path.
        std::string sealed;
        sealed.reserve(size + 32 * (size / 16384 + 1));  // a record adds at most 22 bytes (TLS 1.3)
        if (!tls_->seal(bytes, size, sealed)) {
            close();
            return false;
        }
        return writeRaw(std::move(sealed));
    }
    return queueBytes(bytes, size, std::move(owner));
}

bool HttpConnection::writeRaw(std::string bytes) {
    auto owned = std::make_shared<const std::string>(std::move(bytes));
    const char* data = owned->data();
    const std::size_t size = owned->size();
    return queueBytes(data, size, std::move(owned));
}

bool HttpConnection::queueBytes(const char* bytes, std::size_t size, std::shared_ptr<const void> owner) {
    if (state_ == State::Closed || state_ == State::Lingering) return false;
    queue_.push(bytes, size, std::move(owner));
    if (queue_.bytes() > host_.limits().maxQueuedBytes) {
        host_.countSlowDisconnect();
        log::write(log::Level::Warn, "dropped",
                   {{"reason", "slow_reader: more than the send queue limit unread"},
                    {"peer", peer_},
                    log::num("queued_bytes", static_cast<long long>(queue_.bytes()))},
                   true);
        close();
        return false;
    }
    if (canSend()) host_.scheduleFlush(shared_from_this());
    return true;
}

bool HttpConnection::write(std::string bytes) {
    auto owned = std::make_shared<const std::string>(std::move(bytes));
    const char* data = owned->data();
    const std::size_t size = owned->size();
    return write(data, size, std::move(owned));
}

void HttpConnection::notifyWhenDrained() {
    wantDrain_ = true;
    if (queue_.bytes() < host_.limits().drainBelowBytes) written(0);
}

void HttpConnection::flushNow() {
    if (canSend()) writeQueued();
}

// Sends until the queue is empty or the socket is full; a full socket is watched for
// writability (sendBlocked_), and later writes queue behind it until then.
void HttpConnection::writeQueued() {
    if (state_ == State::Closed || sendInFlight_) return;
    while (!queue_.empty()) {
        iovec parts[Sender::kMaxGather];
        const std::size_t count = queue_.gather(parts, Sender::kMaxGather);
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
            if (!sendBlocked_) host_.watch(fd_, !peerDone_, true);
            sendBlocked_ = true;
            return;
        }
        written(static_cast<std::size_t>(sent));
    }
    if (sendBlocked_) {
        sendBlocked_ = false;
        host_.watch(fd_, !peerDone_, false);
    }
    allWritten();
}

// The result of an io_uring send of gather()'s buffers: bytes taken, or -errno.
void HttpConnection::sent(int result) {
    sendInFlight_ = false;
    if (state_ == State::Closed) return;
    if (result < 0 && result != -EAGAIN && result != -EWOULDBLOCK && result != -EINTR) {
        close();
        return;
    }
    if (result > 0) written(static_cast<std::size_t>(result));
    writeQueued();  // the rest, if the socket took only part; or the close after the last byte
}

void HttpConnection::written(std::size_t bytes) {
    queue_.consume(bytes);
    if (!wantDrain_ || queue_.bytes() >= host_.limits().drainBelowBytes) return;
    wantDrain_ = false;
    asio::post(host_.io(), [self = shared_from_this()] {
        if (self->attachment_ && self->state_ != State::Closed) self->attachment_->onDrained();
    });
}

void HttpConnection::allWritten() {
    if (state_ != State::Finishing) return;
    if (peerDone_) {
        close();
    } else {
        startLinger();
    }
}

// ---------------------------------------------------------------- closing

const std::shared_ptr<const std::string>& HttpConnection::anyOriginCors() {
    static const auto any = std::make_shared<const std::string>("Access-Control-Allow-Origin: *\r\n");
    return any;
}

void HttpConnection::noCors() {
    static const auto none = std::make_shared<const std::string>();
    cors_ = none;
}

void HttpConnection::drain() {
    keepAlive_ = false;
    switch (state_) {
        case State::Reading:
            if (!pending_ && inbox_.empty()) close();
            break;
        case State::Held:
            if (attachment_) attachment_->onTimeout();
            break;
        case State::Streaming: finish(); break;
        default: break;
    }
}

void HttpConnection::finish() {
    if (state_ == State::Closed || state_ == State::Finishing || state_ == State::Lingering) return;
    if (tls_ && tls_->established()) {
        std::string notify;
        tls_->shutdown(notify);  // close_notify: the end of the stream is not a truncation
        writeRaw(std::move(notify));
    }
    state_ = State::Finishing;
    hasDeadline_ = false;
    if (queue_.empty() && !sendInFlight_) allWritten();
}

// Our side is done: tell the peer (FIN), and read on for a while so that what it still
// sends does not turn our close into a reset that destroys the answer in flight.
void HttpConnection::startLinger() {
    ::shutdown(fd_, SHUT_WR);
    state_ = State::Lingering;
    lingered_ = 0;
    armDeadline(host_.limits().lingerTime);
}

void HttpConnection::armDeadline(std::chrono::milliseconds after) {
    deadline_ = Clock::now() + after;
    hasDeadline_ = true;
}

// Deadlines are checked by the server's sweep, not by a timer per connection: no timer
// operation per request, and a held connection carries no timer at all.
void HttpConnection::checkDeadlines(Clock::time_point now) {
    if (state_ == State::Closed) return;
    if (!queue_.empty() && state_ != State::Lingering) {
        // A reader that takes nothing for sendTimeout is not reading. What it takes is seen
        // in the kernel: the bytes the socket holds, sent or not, that the peer has not
        // acknowledged (SIOCOUTQ) go down as it reads. Bytes moved from our queue into
        // the socket are no measure: behind a large socket buffer a reader taking a steady
        // few KB/s lets the kernel take nothing new for minutes.
        int unacked = -1;
        if (::ioctl(fd_, SIOCOUTQ, &unacked) != 0) unacked = -1;
        const bool peerRead = unacked >= 0 && unackedSeen_ >= 0 && unacked < unackedSeen_;
        const bool moved = queue_.consumedTotal() != progressSeen_;
        unackedSeen_ = unacked;
        if (moved || peerRead || stalledSince_ == Clock::time_point{}) {
            progressSeen_ = queue_.consumedTotal();
            stalledSince_ = now;
        } else if (now - stalledSince_ >= host_.limits().sendTimeout) {
            host_.countSlowDisconnect();
            log::write(log::Level::Warn, "dropped",
                       {{"reason", "slow_reader: read nothing for --send-timeout-ms"},
                        {"peer", peer_},
                        log::num("queued_bytes", static_cast<long long>(queue_.bytes()))},
                       true);
            close();
            return;
        }
    } else {
        stalledSince_ = Clock::time_point{};
        unackedSeen_ = -1;
    }
    if (hasDeadline_ && deadline_ <= now) {
        hasDeadline_ = false;
        onDeadline();
    }
    if (hasExpiry_ && expiry_ <= now && state_ != State::Closed) {
        hasExpiry_ = false;
        if (attachment_) attachment_->onExpired();
    }
}

void HttpConnection::onDeadline() {
    switch (state_) {
        case State::WebSocket:
            if (link_) link_->closeDead();
            close();  // the close frame cannot be expected to get through a dead link
            break;
        case State::Held:
            if (attachment_) attachment_->onTimeout();
            break;
        case State::Reading:
            if (pending_ || !inbox_.empty()) {
                inbox_.clear();
                pending_.reset();
                keepAlive_ = false;
                headRequest_ = false;
                state_ = State::Dispatching;
                respond(408, "application/json",
                        protocol::errorBody(ErrorCode::BadRequest, "the request was not completed in time"));
            } else {
                close();  // idle keep-alive connection
            }
            break;
        case State::Lingering: close(); break;
        default: break;
    }
}

void HttpConnection::close() {
    if (state_ == State::Closed) return;
    state_ = State::Closed;
    asio::post(host_.io(), [self = shared_from_this()] { self->finishClose(); });
}

void HttpConnection::finishClose() {
    hasDeadline_ = false;
    // The host owned this connection; `self` (the caller's) keeps it to the end.
    auto owner = host_.release(fd_);
    ::close(fd_);
    fd_ = -1;
    if (attachment_) {
        auto finished = std::move(attachment_);
        finished->onClose();
    }
    queue_.clear();
}

}  // namespace pushwire::server
