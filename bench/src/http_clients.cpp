// HTTP subscribers (SSE, long-poll, poll) and the publisher, with websocketpp's HTTP
// response parser. Subscribers connect with asio, then read through the Receiver. Event
// streams are requested as HTTP/1.0 so that neither server chunks them; polling requests
// use HTTP/1.1 keep-alive.
#include <websocketpp/common/memory.hpp>
#include <websocketpp/http/response.hpp>

#include "bench.hpp"
#include "receiver.hpp"

namespace pushwire::bench {
namespace {

using asio::ip::tcp;
using Response = websocketpp::http::parser::response;

std::string_view headerValue(const Response& r, const char* name) { return r.get_header(name); }

// websocketpp's parser only finishes a body when bytes follow the head, so an empty body
// (Nchan's 304) never reads as ready on its own.
bool complete(const Response& r) { return r.ready() || (r.headers_ready() && r.get_header("Content-Length") == "0"); }

class HttpSubscriber final : public SubscriberBase, public Sink, public std::enable_shared_from_this<HttpSubscriber> {
public:
    HttpSubscriber(asio::io_context& io, Receiver& receiver, const Config& config, std::string channel, Tally& tally)
        : SubscriberBase(config.mode, tally),
          socket_(io),
          timer_(io),
          receiver_(receiver),
          config_(config),
          channel_(std::move(channel)) {}

    void start() override {
        auto self = shared_from_this();
        tcp::endpoint endpoint(asio::ip::make_address(config_.host), static_cast<unsigned short>(config_.port));
        socket_.async_connect(endpoint, [self](const std::error_code& ec) {
            if (ec) return self->fail("connect: " + ec.message());
            std::error_code ignored;
            self->socket_.set_option(tcp::no_delay(true), ignored);
            if (!self->receiver_.adopt(self->socket_, *self)) return self->fail("cannot watch the socket");
            self->request();
        });
    }

    void stop() override {
        stopped_ = true;
        timer_.cancel();
        std::error_code ignored;
        socket_.close(ignored);  // still connecting
        receiver_.drop(*this);
    }

    void onBytes(const char* data, std::size_t size) override { onData(data, size); }
    void onClosed(const std::string& why) override { fail(why); }

private:
    std::string requestText() {
        const bool pushwire = config_.target == Target::Pushwire;
        std::string target;
        std::string extra;
        std::string version = " HTTP/1.1";
        switch (config_.mode) {
            case Mode::Sse:
                target = pushwire ? "/pushwire/sse?channel=" + channel_ : "/sub/" + channel_;
                extra = "Accept: text/event-stream\r\n";
                version = " HTTP/1.0";
                break;
            case Mode::LongPoll:
                target = pushwire ? "/pushwire/longpoll?channel=" + channel_ + "&timeout_ms=60000" +
                                        (cursor_.empty() ? "" : "&since=" + cursor_)
                                  : "/sub/" + channel_;
                break;
            case Mode::Poll:
                target = pushwire ? "/pushwire/poll?channel=" + channel_ + (cursor_.empty() ? "" : "&since=" + cursor_)
                                  : "/poll/" + channel_;
                break;
            case Mode::WebSocket: break;
        }
        if (pushwire && !config_.token.empty()) target += "&token=" + config_.token;
        if (!pushwire && !lastModified_.empty()) {
            extra += "If-Modified-Since: " + lastModified_ + "\r\nIf-None-Match: " + etag_ + "\r\n";
        }
        return "GET " + target + version + "\r\nHost: " + config_.host + "\r\n" + extra + "\r\n";
    }

    void request() {
        if (stopped_) return;
        parser_ = std::make_unique<Response>();
        if (!Receiver::send(*this, requestText())) return fail("write failed");
        if (!established_ && config_.mode == Mode::LongPoll) establish();
    }

    void onData(const char* data, std::size_t size) {
        if (stopped_) return;
        if (streaming_) return stream(data, size);
        std::size_t used = 0;
        try {
            used = parser_->consume(data, size);
        } catch (const std::exception& e) {
            return fail(std::string("bad response: ") + e.what());
        }
        if (!parser_->headers_ready()) return;
        if (config_.mode == Mode::Sse) {
            if (parser_->get_status_code() != 200)
                return fail("SSE status " + std::to_string(parser_->get_status_code()));
            streaming_ = true;
            if (config_.target == Target::Nchan) establish();  // pushwire: on its welcome event
            return stream(data + used, size - used);
        }
        if (!complete(*parser_)) return;
        if (!headerValue(*parser_, "Transfer-Encoding").empty()) return fail("chunked response not supported");
        answer();
    }

    // Event stream: scan complete events only (up to the last blank line).
    void stream(const char* data, std::size_t size) {
        pending_.append(data, size);
        std::size_t end = pending_.rfind("\n\n");
        if (end == std::string::npos) return;
        std::string_view complete(pending_.data(), end + 2);
        if (!established_ && complete.find("event: welcome") != std::string_view::npos) establish();
        scanMessages(complete, [this](std::int64_t i, std::int64_t t) {
            sequence_.seen(i, t, tally_);
            if (onMessage) onMessage(i);
        });
        pending_.erase(0, end + 2);
    }

    void answer() {
        const int status = parser_->get_status_code();
        const std::string& body = parser_->get_body();
        bool gotMessages = false;
        if (status == 200) {
            scanMessages(body, [&](std::int64_t i, std::int64_t t) {
                sequence_.seen(i, t, tally_);
                if (onMessage) onMessage(i);
                gotMessages = true;
            });
            if (config_.target == Target::Pushwire) {
                auto at = body.find("\"cursor\":\"");
                if (at != std::string::npos) {
                    at += 10;
                    cursor_ = body.substr(at, body.find('"', at) - at);
                }
            } else {
                lastModified_ = std::string(headerValue(*parser_, "Last-Modified"));
                etag_ = std::string(headerValue(*parser_, "Etag"));
            }
        } else if (status != 304 && status != 408) {
            return fail("status " + std::to_string(status) + ": " + body.substr(0, 200));
        }
        if (!established_) establish();
        // Ask again at once after messages (there may be more); polls wait otherwise.
        if (config_.mode == Mode::Poll && !gotMessages) {
            timer_.expires_after(std::chrono::milliseconds(config_.pollIntervalMs));
            auto self = shared_from_this();
            timer_.async_wait([self](const std::error_code& ec) {
                if (!ec) self->request();
            });
        } else {
            request();
        }
    }

    tcp::socket socket_;  // until connected; then the Receiver has it
    asio::steady_timer timer_;
    Receiver& receiver_;
    const Config& config_;
    std::string channel_;
    std::unique_ptr<Response> parser_;
    std::string pending_, cursor_, lastModified_, etag_;
    bool streaming_ = false;
};

}  // namespace

std::shared_ptr<Subscriber> makeHttpSubscriber(asio::io_context& io, Receiver& receiver, const Config& config,
                                               const std::string& channel, Tally& tally) {
    return std::make_shared<HttpSubscriber>(io, receiver, config, channel, tally);
}

// ---------------------------------------------------------------- Publisher

struct Publisher::Impl {
    Impl(asio::io_context& context, const Config& c) : io(context), socket(context), timer(context), config(c) {}

    void connect(std::function<void()> then) {
        tcp::endpoint endpoint(asio::ip::make_address(config.host), static_cast<unsigned short>(config.port));
        socket.async_connect(endpoint, [this, then](const std::error_code& ec) {
            if (ec) {
                ++errors;
                return;
            }
            std::error_code ignored;
            socket.set_option(tcp::no_delay(true), ignored);
            connected = true;
            then();
        });
    }

    // Paced (rate > 0): each request leaves at its time on the schedule, whether or not
    // earlier ones are answered yet (pipelined, up to kPacedWindow in flight), so a server
    // that answers publishes slowly still gets the rate asked for. As fast as accepted
    // (rate 0): kWindow pipelined requests in flight.
    static constexpr int kWindow = 16;
    static constexpr int kPacedWindow = 1000;

    void next() {
        if (answered >= count) return done();
        if (config.rate <= 0) {
            while (sent < count && sent - answered < kWindow) send();
            return;
        }
        if (sent >= count || sent - answered >= kPacedWindow || timerArmed) return;
        auto due = start + std::chrono::nanoseconds(static_cast<std::int64_t>(sent * 1e9 / config.rate));
        timerArmed = true;
        timer.expires_at(due);
        timer.async_wait([this](const std::error_code& ec) {
            timerArmed = false;
            if (ec) return;
            send();
            next();
        });
    }

    void send() {
        std::string data = payload(first + sent, config.messageBytes);
        std::string target, body;
        if (config.target == Target::Pushwire) {
            target = "/pushwire/publish";
            body = "{\"channel\":\"" + channel + "\",\"data\":" + data + "}";
        } else {
            target = "/pub/" + channel;
            body = data;
        }
        auto request = std::make_shared<std::string>(
            "POST " + target + " HTTP/1.1\r\nHost: " + config.host +
            (config.apiKey.empty() ? "" : "\r\nAuthorization: ApiKey " + config.apiKey) +
            "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
        sentAt.push_back(nowNs());
        ++sent;
        asio::async_write(socket, asio::buffer(*request), [this, request](const std::error_code& ec, std::size_t) {
            if (ec) ++errors;
        });
        if (!reading) read();
    }

    // Answers come back in request order; bytes past one answer start the next.
    void read() {
        reading = true;
        socket.async_read_some(asio::buffer(buffer), [this](const std::error_code& ec, std::size_t n) {
            if (ec) {
                ++errors;
                reading = false;
                return;
            }
            inbox.append(buffer.data(), n);
            while (!inbox.empty() && answered < sent) {
                if (!parser) parser = std::make_unique<Response>();
                std::size_t used = 0;
                try {
                    used = parser->consume(inbox.data(), inbox.size());
                } catch (const std::exception&) {
                    ++errors;
                    reading = false;
                    return;
                }
                inbox.erase(0, used);
                if (!complete(*parser)) break;
                if (parser->get_status_code() >= 300) ++errors;
                latency.push_back(
                    static_cast<std::uint32_t>((nowNs() - sentAt[static_cast<std::size_t>(answered)]) / 1000));
                ++answered;
                parser.reset();
            }
            reading = answered < sent;
            if (reading) read();
            next();
        });
    }

    asio::io_context& io;
    tcp::socket socket;
    asio::steady_timer timer;
    const Config& config;
    std::string channel, inbox;
    std::array<char, 4096> buffer{};
    std::unique_ptr<Response> parser;
    std::vector<std::uint32_t> latency;
    Clock::time_point start;
    std::vector<std::int64_t> sentAt;
    std::int64_t first = 0;
    int count = 0, sent = 0, answered = 0, errors = 0;
    bool connected = false;
    bool reading = false;
    bool timerArmed = false;
    std::function<void()> done;
};

Publisher::Publisher(asio::io_context& io, const Config& config) : impl_(std::make_unique<Impl>(io, config)) {}
Publisher::~Publisher() = default;

void Publisher::run(const std::string& channel, std::int64_t first, int count, std::function<void()> done) {
    Impl& d = *impl_;
    d.channel = channel;
    d.first = first;
    d.count = count;
    d.sent = 0;
    d.answered = 0;
    d.sentAt.clear();
    d.done = std::move(done);
    auto begin = [&d] {
        d.start = Clock::now();
        d.next();
    };
    if (d.connected) begin();
    else d.connect(begin);
}

std::vector<std::uint32_t>& Publisher::latencyUs() { return impl_->latency; }
int Publisher::errors() const { return impl_->errors; }

double Publisher::achievedRate() const {
    const auto& at = impl_->sentAt;
    if (at.size() < 2 || at.back() == at.front()) return 0;
    return static_cast<double>(at.size() - 1) * 1e9 / static_cast<double>(at.back() - at.front());
}

}  // namespace pushwire::bench
