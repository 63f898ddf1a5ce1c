// The connection state machine on one end of a socketpair, with a fake host that flushes
// the way the server does (through io_uring where the kernel allows, else sendmsg): the
// test plays the client on the other end.
#include "front/http_connection.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <catch2/catch.hpp>
#include <functional>

#include "front/flush_list.hpp"
#include "front/sender.hpp"

namespace http_connection_test {

using namespace pushwire::server;
using namespace std::chrono_literals;

namespace {

class FakeHost final : public ConnectionHost {
public:
    explicit FakeHost(bool ring) {
        std::string why;
        if (ring) sender_ = Sender::create(64, why);
        int fds[2];
        REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) == 0);
        peer = fds[1];
        connection = std::make_shared<HttpConnection>(fds[0], *this);
        connection->start();
    }
    ~FakeHost() {
        connection.reset();
        ::close(peer);
    }

    const HttpLimits& limits() const override { return limits_; }
    asio::io_context& io() override { return io_; }
    void dispatch(HttpRequest& request, const HttpConnectionPtr& c) override {
        ++requests;
        handler(request, c);
    }
    void scheduleFlush(const HttpConnectionPtr& c) override {
        if (!flushList_.add(c)) return;
        asio::post(io_, [this] {
            for (auto& target : flushList_.take()) {
                if (!target->canSend()) continue;
                if (sender_) {
                    sender_->add(target);
                } else {
                    target->flushNow();
                }
            }
            if (sender_) sender_->submit();
        });
    }
    void watch(int, bool readable, bool writable) override {
        watchReadable = readable;
        watchWritable = writable;
    }
    std::shared_ptr<HttpConnection> release(int) override {
        released = true;
        return connection;
    }
    void countRequest() override {}
    void countSlowDisconnect() override { ++slow; }
    std::shared_ptr<const std::string> corsHeaders(std::string_view) override {
        return std::make_shared<const std::string>("Access-Control-Allow-Origin: *\r\n");
    }

    // Runs the loop, with the connection's readiness as the poller would report it.
    void turn(int times = 3) {
        for (int i = 0; i < times; ++i) {
            io_.poll();
            io_.restart();
            if (!connection || released) continue;
            pollfd p{connection->fd(), 0, 0};
            p.events = static_cast<short>((watchReadable ? POLLIN : 0) | (watchWritable ? POLLOUT : 0));
            if (::poll(&p, 1, 0) > 0) {
                std::uint32_t events = 0;
                if (p.revents & POLLIN) events |= EPOLLIN;
                if (p.revents & POLLOUT) events |= EPOLLOUT;
                if (p.revents & POLLHUP) events |= EPOLLHUP;
                connection->onReady(events);
            }
            io_.poll();
            io_.restart();
        }
    }
    void send(const std::string& bytes) {
        REQUIRE(::send(peer, bytes.data(), bytes.size(), 0) == (ssize_t)bytes.size());
    }
    // Everything the client end can read now.
    std::string received() {
        std::string out;
        char buffer[65536];
        for (;;) {
            ssize_t n = ::recv(peer, buffer, sizeof buffer, MSG_DONTWAIT);
            if (n <= 0) break;
            out.append(buffer, static_cast<std::size_t>(n));
        }
        return out;
    }
    bool peerSeesEof() {
        char c;
        return ::recv(peer, &c, 1, MSG_DONTWAIT) == 0;
    }

    HttpLimits limits_;
    asio::io_context io_;
    std::unique_ptr<Sender> sender_;
    FlushList<HttpConnection> flushList_;
    std::function<void(HttpRequest&, const HttpConnectionPtr&)> handler = [](HttpRequest& r,
                                                                             const HttpConnectionPtr& c) {
        c->respond(200, "text/plain", r.method + " " + r.target + " " + r.body);
    };
    std::shared_ptr<HttpConnection> connection;
    int peer = -1;
    int requests = 0;
    int slow = 0;
    bool watchReadable = true;
    bool watchWritable = false;
    bool released = false;
};

std::size_t count(const std::string& haystack, const std::string& needle) {
    std::size_t n = 0;
    for (std::size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
    return n;
}

}  // namespace

TEST_CASE("a request is dispatched once, when its body is whole, however its bytes are split") {
    FakeHost host(true);
    const std::string request = "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
    for (char c : request) {
        host.send(std::string(1, c));
        host.turn(1);
    }
    host.turn();
    CHECK(host.requests == 1);
    std::string got = host.received();
    CHECK(got.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(got.find("\r\n\r\nPOST /p hello") != std::string::npos);
}

TEST_CASE("pipelined requests are answered in order, each once, on both write paths") {
    for (bool ring : {true, false}) {
        INFO((ring ? "io_uring" : "sendmsg"));
        FakeHost host(ring);
        host.send(
            "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n");
        host.turn();
        std::string got = host.received();
        CHECK(count(got, "HTTP/1.1 200") == 3);
        CHECK(got.find("GET /a") < got.find("GET /b"));
        CHECK(got.find("GET /b") < got.find("GET /c"));
    }
}

TEST_CASE("bytes written before and after an early flush in one turn leave once") {
    for (bool ring : {true, false}) {
        INFO((ring ? "io_uring" : "sendmsg"));
        FakeHost host(ring);
        host.handler = [](HttpRequest&, const HttpConnectionPtr& c) {
            c->beginStream("HEAD\n", nullptr);
            c->write(std::string("one\n"));
            c->flushNow();                   // leaves now, the connection still listed
            c->write(std::string("two\n"));  // listed again in the same turn
            c->write(std::string("three\n"));
        };
        host.send("GET /s HTTP/1.1\r\nHost: x\r\n\r\n");
        host.turn();
        CHECK(host.received() == "HEAD\none\ntwo\nthree\n");
    }
}

TEST_CASE("an answer with Connection: close reads on until the peer closes, then closes") {
    FakeHost host(true);
    host.send("GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    host.turn();
    CHECK(host.received().find("Connection: close") != std::string::npos);
    CHECK(host.peerSeesEof());  // our side is shut down...
    CHECK_FALSE(host.released);
    host.send(std::string(100000, 'z'));  // ...while what the peer still sends is read
    host.turn(5);
    CHECK_FALSE(host.released);
    ::shutdown(host.peer, SHUT_WR);
    host.turn();
    CHECK(host.released);
}

TEST_CASE("a held request keeps pipelined bytes and answers them after its own") {
    FakeHost host(false);
    HttpConnectionPtr held;
    host.handler = [&](HttpRequest& r, const HttpConnectionPtr& c) {
        if (r.target == "/hold") {
            struct Parked : Attachment {
                void onClose() override {}
            };
            held = c;
            c->hold(std::make_unique<Parked>(), 0ms);
        } else {
            c->respond(200, "text/plain", r.target);
        }
    };
    host.send("GET /hold HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n");
    host.turn();
    CHECK(host.received().empty());
    held->respond(200, "text/plain", "released");
    host.turn();
    std::string got = host.received();
    CHECK(got.find("released") < got.find("/next"));
    CHECK(count(got, "HTTP/1.1 200") == 2);
}

TEST_CASE("HEAD gets the head with the length and no body") {
    FakeHost host(true);
    host.send("HEAD /x HTTP/1.1\r\nHost: x\r\n\r\n");
    host.turn();
    std::string got = host.received();
    CHECK(got.find("Content-Length: 8\r\n") != std::string::npos);  // "HEAD /x "
    CHECK(got.substr(got.size() - 4) == "\r\n\r\n");
}

TEST_CASE("a writer told of room gets onDrained once the reader has taken the queue") {
    FakeHost host(true);
    host.limits_.drainBelowBytes = 1024;
    int drained = 0;
    struct Stream : Attachment {
        explicit Stream(int& n) : drained(n) {}
        void onClose() override {}
        void onDrained() override { ++drained; }
        int& drained;
    };
    host.handler = [&](HttpRequest&, const HttpConnectionPtr& c) {
        c->beginStream("", std::make_unique<Stream>(drained));
        c->write(std::string(400000, 'd'));  // more than the socketpair holds
        c->notifyWhenDrained();
    };
    host.send("GET /s HTTP/1.1\r\nHost: x\r\n\r\n");
    host.turn();
    CHECK(drained == 0);
    std::size_t got = 0;
    for (int i = 0; i < 200 && drained == 0; ++i) {
        got += host.received().size();
        host.turn();
    }
    CHECK(drained == 1);
    got += host.received().size();
    CHECK(got == 400000);
}

}  // namespace http_connection_test
