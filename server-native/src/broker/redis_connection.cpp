#include "broker/redis_connection.hpp"

#include <hiredis/hiredis.h>

namespace pushwire::server {

namespace {

RedisValue copyReply(const redisReply* reply) {
    RedisValue value;
    switch (reply->type) {
        case REDIS_REPLY_INTEGER:
            value.type = RedisValue::Type::Integer;
            value.integer = reply->integer;
            break;
        case REDIS_REPLY_STRING:
            value.type = RedisValue::Type::String;
            value.text.assign(reply->str, reply->len);
            break;
        case REDIS_REPLY_STATUS:
            value.type = RedisValue::Type::Status;
            value.text.assign(reply->str, reply->len);
            break;
        case REDIS_REPLY_ERROR:
            value.type = RedisValue::Type::Error;
            value.text.assign(reply->str, reply->len);
            break;
        case REDIS_REPLY_ARRAY:
            value.type = RedisValue::Type::Array;
            value.elements.reserve(reply->elements);
            for (std::size_t i = 0; i < reply->elements; ++i) value.elements.push_back(copyReply(reply->element[i]));
            break;
        default: value.type = RedisValue::Type::Nil; break;
    }
    return value;
}

std::string format(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    argv.reserve(args.size());
    lengths.reserve(args.size());
    for (const std::string& arg : args) {
        argv.push_back(arg.data());
        lengths.push_back(arg.size());
    }
    char* command = nullptr;
    const int length = redisFormatCommandArgv(&command, static_cast<int>(args.size()), argv.data(), lengths.data());
    std::string out = length > 0 ? std::string(command, static_cast<std::size_t>(length)) : std::string();
    if (command) redisFreeCommand(command);
    return out;
}

}  // namespace

RedisConnection::RedisConnection(asio::io_context& io, RedisEndpoint endpoint, std::chrono::milliseconds timeout)
    : io_(io),
      endpoint_(std::move(endpoint)),
      timeout_(timeout),
      socket_(io),
      timer_(io),
      reader_(redisReaderCreate()),
      buffer_(64 * 1024) {}

RedisConnection::~RedisConnection() {
    *alive_ = false;
    std::error_code ignored;
    socket_.close(ignored);
    timer_.cancel();
    if (reader_) redisReaderFree(reader_);
}

void RedisConnection::connect(std::function<void(std::optional<std::string>)> done) {
    state_ = State::Connecting;
    auto alive = alive_;
    auto resolver = std::make_shared<asio::ip::tcp::resolver>(io_);
    resolver->async_resolve(
        endpoint_.host, std::to_string(endpoint_.port),
        [this, alive, resolver, done](const std::error_code& ec, asio::ip::tcp::resolver::results_type results) {
            if (!*alive) return;
            if (ec) {
                state_ = State::Closed;
                done("cannot resolve " + endpoint_.host + ": " + ec.message());
                return;
            }
            asio::async_connect(
                socket_, results, [this, alive, done](const std::error_code& error, const asio::ip::tcp::endpoint&) {
                    if (!*alive) return;
                    if (error) {
                        state_ = State::Closed;
                        done("cannot connect to " + endpoint_.host + ":" + std::to_string(endpoint_.port) + ": " +
                             error.message());
                        return;
                    }
                    std::error_code ignored;
                    socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
                    state_ = State::Open;
                    startRead();
                    // AUTH and SELECT go first; the connection is ready
                    // once both are answered.
                    auto failed = std::make_shared<std::optional<std::string>>();
                    auto check = [failed](const char* what) {
                        return [failed, what](const RedisValue* reply) {
                            if (!*failed && (!reply || reply->isError())) {
                                *failed = std::string(what) + ": " + (reply ? reply->text : std::string("no answer"));
                            }
                        };
                    };
                    if (!endpoint_.password.empty()) command({"AUTH", endpoint_.password}, check("AUTH"));
                    if (endpoint_.db != 0) command({"SELECT", std::to_string(endpoint_.db)}, check("SELECT"));
                    command({"PING"}, [this, failed, done, check](const RedisValue* reply) {
                        check("PING")(reply);
                        if (*failed) close(**failed);
                        done(*failed);
                    });
                });
        });
}

void RedisConnection::command(const std::vector<std::string>& args, Callback done) {
    if (state_ != State::Open) {
        done(nullptr);
        return;
    }
    pending_.push_back(Pending{std::move(done), std::chrono::steady_clock::now() + timeout_});
    outbox_.push_back(format(args));
    writeMore();
    if (pending_.size() == 1) armTimer();
}

void RedisConnection::send(const std::vector<std::string>& args) {
    if (state_ != State::Open) return;
    outbox_.push_back(format(args));
    writeMore();
}

void RedisConnection::writeMore() {
    if (writing_ || outbox_.empty() || state_ != State::Open) return;
    // Everything queued in one write: a fan-out's commands go out together.
    auto batch = std::make_shared<std::string>();
    while (!outbox_.empty()) {
        *batch += outbox_.front();
        outbox_.pop_front();
    }
    writing_ = true;
    auto alive = alive_;
    asio::async_write(socket_, asio::buffer(*batch), [this, alive, batch](const std::error_code& ec, std::size_t) {
        if (!*alive) return;
        writing_ = false;
        if (ec) {
            fail("write failed: " + ec.message());
            return;
        }
        writeMore();
    });
}

void RedisConnection::startRead() {
    auto alive = alive_;
    socket_.async_read_some(asio::buffer(buffer_), [this, alive](const std::error_code& ec, std::size_t size) {
        if (!*alive) return;
        if (ec) {
            fail(ec == asio::error::eof ? std::string("closed by Redis") : "read failed: " + ec.message());
            return;
        }
        onBytes(size);
        if (state_ == State::Open) startRead();
    });
}

void RedisConnection::onBytes(std::size_t size) {
    if (redisReaderFeed(reader_, buffer_.data(), size) != REDIS_OK) {
        fail("unreadable reply from Redis");
        return;
    }
    for (;;) {
        void* raw = nullptr;
        if (redisReaderGetReply(reader_, &raw) != REDIS_OK) {
            fail("unreadable reply from Redis");
            return;
        }
        if (raw == nullptr) return;
        lastReply_ = std::chrono::steady_clock::now();
        RedisValue value = copyReply(static_cast<redisReply*>(raw));
        freeReplyObject(raw);
        if (!pending_.empty()) {
            Callback done = std::move(pending_.front().done);
            pending_.pop_front();
            done(&value);
        } else if (pushHandler_) {
            pushHandler_(value);
        }
        if (state_ != State::Open) return;
    }
}

bool RedisConnection::heardWithin(std::chrono::milliseconds window) const {
    if (std::chrono::steady_clock::now() - lastReply_ < window) return true;
    std::error_code ignored;
    return socket_.available(ignored) > 0;
}

// A command unanswered past its deadline means Redis (or the path to it) is stuck: the
// connection is given up, and everything waiting on it fails now rather than hangs.
void RedisConnection::armTimer() {
    if (pending_.empty()) return;
    timer_.expires_at(pending_.front().deadline);
    auto alive = alive_;
    timer_.async_wait([this, alive](const std::error_code& ec) {
        if (!*alive || ec || state_ != State::Open) return;
        const auto now = std::chrono::steady_clock::now();
        if (!pending_.empty() && pending_.front().deadline <= now) {
            std::error_code ignored;
            if (socket_.available(ignored) > 0) {
                // Answers wait unread (this loop was busy): read them first, look again soon.
                timer_.expires_after(std::chrono::milliseconds(100));
                timer_.async_wait([this, alive](const std::error_code& again) {
                    if (*alive && !again && state_ == State::Open) armTimer();
                });
                return;
            }
            if (now - lastReply_ < timeout_) {
                // Redis is answering, the queue is just long: silent for the timeout is stuck.
                timer_.expires_at(lastReply_ + timeout_);
                timer_.async_wait([this, alive](const std::error_code& again) {
                    if (*alive && !again && state_ == State::Open) armTimer();
                });
                return;
            }
            fail("Redis did not answer within " + std::to_string(timeout_.count()) + " ms");
            return;
        }
        armTimer();
    });
}

void RedisConnection::fail(const std::string& why) {
    const bool wasOpen = state_ == State::Open;
    close(why);
    if (wasOpen && closedHandler_) closedHandler_(why);
}

void RedisConnection::close(const std::string&) {
    if (state_ == State::Closed) return;
    state_ = State::Closed;
    std::error_code ignored;
    socket_.close(ignored);
    timer_.cancel();
    outbox_.clear();
    redisReaderFree(reader_);
    reader_ = redisReaderCreate();
    auto pending = std::move(pending_);
    pending_.clear();
    for (Pending& waiting : pending) waiting.done(nullptr);
}

}  // namespace pushwire::server
