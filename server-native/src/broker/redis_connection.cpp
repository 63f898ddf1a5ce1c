#include "broker/redis_connection.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <asio/post.hpp>
#include <atomic>
#include <charconv>
#include <cstring>

#include "broker/command_health.hpp"

namespace pushwire::server {

namespace {

constexpr int kTryAgainWaits = 20;  // TRYAGAIN answers waited out, kTryAgainWait apart, before giving up
constexpr std::chrono::milliseconds kTryAgainWait{50};

std::atomic<std::uint64_t> asksFollowed_{0};
std::atomic<std::uint64_t> tryAgainsWaited_{0};

bool startsWith(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

// What may be shown of a handshake's error reply: `text` with every occurrence of `secret`
// replaced by "<password>", then its first line, cut to a length and without control
// characters (CommandHealth::shown).
std::string shownReply(std::string text, const std::string& secret) {
    if (!secret.empty()) {
        for (std::size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at)) {
            text.replace(at, secret.size(), "<password>");
            at += std::strlen("<password>");
        }
    }
    return CommandHealth::shown(text);
}

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

// hiredis's own array constructor, wrapped by cappedArray (it is not exported by name).
void* (*hiredisCreateArray)(const redisReadTask*, int) = nullptr;

// Refuses an array past the reply's element budget (the reader then reports an error, and
// the connection is given up) before hiredis allocates it.
void* cappedArray(const redisReadTask* task, int elements) {
    auto* budget = static_cast<std::size_t*>(task->privdata);
    const auto count = static_cast<std::size_t>(std::max(elements, 0));
    if (!budget || count > *budget) return nullptr;
    *budget -= count;
    return hiredisCreateArray(task, elements);
}

redisReplyObjectFunctions* cappedFunctions(const redisReplyObjectFunctions* hiredis) {
    static redisReplyObjectFunctions functions = [hiredis] {
        redisReplyObjectFunctions copy = *hiredis;
        hiredisCreateArray = copy.createArray;
        copy.createArray = cappedArray;
        return copy;
    }();
    return &functions;
}

}  // namespace

void RedisConnection::newReader() {
    if (reader_) redisReaderFree(reader_);
    reader_ = redisReaderCreate();
    if (!reader_) return;
    reader_->fn = cappedFunctions(reader_->fn);
    elementBudget_ = kMaxReplyElements;
    reader_->privdata = &elementBudget_;
}
const std::string RedisConnection::kSelf = std::string("\x01self:");

std::uint64_t RedisConnection::asksFollowed() { return asksFollowed_.load(); }
std::uint64_t RedisConnection::tryAgainsWaited() { return tryAgainsWaited_.load(); }

struct RedisConnection::Parked {
    asio::steady_timer timer;
    std::shared_ptr<const std::vector<std::string>> args;
    Callback done;
    int waits;
};

RedisConnection::RedisConnection(asio::io_context& io, RedisEndpoint endpoint, std::chrono::milliseconds timeout)
    : io_(io),
      endpoint_(std::move(endpoint)),
      timeout_(timeout),
      socket_(io),
      timer_(io),
      connectTimer_(io),
      buffer_(64 * 1024) {
    newReader();
}

RedisConnection::~RedisConnection() {
    *alive_ = false;
    std::error_code ignored;
    socket_.close(ignored);
    timer_.cancel();
    connectTimer_.cancel();
    if (reader_) redisReaderFree(reader_);
}

RedisEndpoint sentinelEndpoint(const RedisEndpoint& endpoint, std::size_t index) {
    RedisEndpoint at;
    at.host = endpoint.sentinels[index].first;
    at.port = endpoint.sentinels[index].second;
    at.password = endpoint.sentinelPassword;
    at.tls = endpoint.tls;
    at.tlsCa = endpoint.tlsCa;
    at.tlsCert = endpoint.tlsCert;
    at.tlsKey = endpoint.tlsKey;
    return at;
}

void RedisConnection::connect(std::function<void(std::optional<std::string>)> done) {
    state_ = State::Connecting;
    if (endpoint_.sentinels.empty()) {
        connectTo(std::move(done));
    } else if (endpoint_.announcedPort > 0) {
        endpoint_.host = endpoint_.announcedHost;
        endpoint_.port = endpoint_.announcedPort;
        connectTo(std::move(done));
    } else {
        askSentinel(0, "", std::move(done));
    }
}

// Asks sentinel `index` where the master is; the next one when it cannot say.
void RedisConnection::askSentinel(std::size_t index, std::string errors,
                                  std::function<void(std::optional<std::string>)> done) {
    if (index >= endpoint_.sentinels.size()) {
        state_ = State::Closed;
        done("no sentinel named a master for '" + endpoint_.masterName + "' (" + errors + ")");
        return;
    }
    const RedisEndpoint at = sentinelEndpoint(endpoint_, index);
    auto sentinel = std::make_shared<RedisConnection>(io_, at, timeout_);
    const std::string where = at.host + ":" + std::to_string(at.port);
    auto alive = alive_;
    // The sentinel's connection is let go after its callback has returned.
    auto release = [this, sentinel] { asio::post(io_, [sentinel] { sentinel->close("done"); }); };
    auto next = [this, alive, index, errors, done, where, release](const std::string& why) {
        release();
        if (*alive) askSentinel(index + 1, errors + (errors.empty() ? "" : "; ") + where + ": " + why, done);
    };
    sentinel->connect([this, alive, sentinel, done, next, release](std::optional<std::string> error) {
        if (!*alive) return;
        if (error) {
            next(*error);
            return;
        }
        sentinel->command({"SENTINEL", "get-master-addr-by-name", endpoint_.masterName},
                          [this, alive, done, next, release](const RedisValue* reply) {
                              if (!*alive) return;
                              int port = 0;
                              if (reply && reply->type == RedisValue::Type::Array && reply->elements.size() == 2) {
                                  port = std::atoi(reply->elements[1].text.c_str());
                              }
                              if (port <= 0 || port > 65535) {
                                  next(reply && reply->isError() ? reply->text : "no such master");
                                  return;
                              }
                              release();
                              endpoint_.host = reply->elements[0].text;
                              endpoint_.port = port;
                              connectTo(done);
                          });
    });
}

void RedisConnection::connectTo(std::function<void(std::optional<std::string>)> done) {
    auto alive = alive_;
    connectTimedOut_ = false;
    connectTimer_.expires_after(timeout_);
    connectTimer_.async_wait([this, alive](const std::error_code& ec) {
        if (!*alive || ec || state_ != State::Connecting) return;
        connectTimedOut_ = true;
        std::error_code ignored;
        socket_.close(ignored);  // the connect or the handshake in flight ends with an error
    });
    auto resolver = std::make_shared<asio::ip::tcp::resolver>(io_);
    resolver->async_resolve(
        endpoint_.host, std::to_string(endpoint_.port),
        [this, alive, resolver, done](const std::error_code& ec, asio::ip::tcp::resolver::results_type results) {
            if (!*alive) return;
            if (ec || connectTimedOut_) {
                state_ = State::Closed;
                done("cannot resolve " + endpoint_.host + ": " +
                     (ec ? ec.message() : "no answer within " + std::to_string(timeout_.count()) + " ms"));
                return;
            }
            // Closed while the name was resolved: nothing more to start (told as before).
            if (state_ == State::Closed) {
                done("closed while connecting to " + endpoint_.host);
                return;
            }
            auto addresses = std::make_shared<std::vector<asio::ip::tcp::endpoint>>();
            for (const auto& entry : results) addresses->push_back(entry.endpoint());
            connectNext(addresses, 0, "", done);
        });
}

void RedisConnection::connectNext(std::shared_ptr<std::vector<asio::ip::tcp::endpoint>> addresses, std::size_t index,
                                  std::string errors, std::function<void(std::optional<std::string>)> done) {
    if (index >= addresses->size()) {
        state_ = State::Closed;
        done("cannot connect to " + endpoint_.host + ":" + std::to_string(endpoint_.port) + ": " +
             (errors.empty() ? std::string("no address") : errors));
        return;
    }
    std::error_code ignored;
    socket_.close(ignored);
    auto alive = alive_;
    socket_.async_connect((*addresses)[index], [this, alive, addresses, index, errors,
                                                done](const std::error_code& error) {
        if (!*alive) return;
        if (state_ == State::Closed) {
            done("closed while connecting to " + endpoint_.host);
            return;
        }
        if (error && connectTimedOut_) {
            state_ = State::Closed;
            done("cannot connect to " + endpoint_.host + ":" + std::to_string(endpoint_.port) + ": no answer within " +
                 std::to_string(timeout_.count()) + " ms");
            return;
        }
        if (error) {
            connectNext(addresses, index + 1, errors.empty() ? error.message() : errors + "; " + error.message(), done);
            return;
        }
        std::error_code unset;
        socket_.set_option(asio::ip::tcp::no_delay(true), unset);
        if (endpoint_.tls) {
            handshake(done);
        } else {
            authenticate(done);
        }
    });
}

// TLS: Redis's certificate must chain to the CA and name the host (or address) connected to.
void RedisConnection::handshake(std::function<void(std::optional<std::string>)> done) {
    const std::string where = endpoint_.host + ":" + std::to_string(endpoint_.port);
    try {
        tlsContext_ = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
        tlsContext_->set_options(asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 |
                                 asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
        tlsContext_->set_verify_mode(asio::ssl::verify_peer);
        if (endpoint_.tlsCa.empty()) {
            tlsContext_->set_default_verify_paths();
        } else {
            tlsContext_->load_verify_file(endpoint_.tlsCa);
        }
        // A key file under a passphrase is refused here ("bad decrypt"): without a callback
        // OpenSSL would ask for it on the terminal, blocking the loop at every connect.
        tlsContext_->set_password_callback([](std::size_t, asio::ssl::context::password_purpose) { return ""; });
        if (!endpoint_.tlsCert.empty()) {
            tlsContext_->use_certificate_chain_file(endpoint_.tlsCert);
            tlsContext_->use_private_key_file(endpoint_.tlsKey, asio::ssl::context::pem);
        }
        tls_ = std::make_shared<asio::ssl::stream<asio::ip::tcp::socket&>>(socket_, *tlsContext_);
        // The name is checked by OpenSSL itself (not asio's verify callback), so that a
        // mismatch has a verdict of its own ("hostname mismatch", "IP address mismatch").
        SSL* ssl = tls_->native_handle();
        X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
        std::error_code notAddress;
        asio::ip::make_address(endpoint_.host, notAddress);
        const bool named = notAddress ? SSL_set1_host(ssl, endpoint_.host.c_str()) == 1 &&
                                            SSL_set_tlsext_host_name(ssl, endpoint_.host.c_str()) == 1
                                      : X509_VERIFY_PARAM_set1_ip_asc(param, endpoint_.host.c_str()) == 1;
        if (!named) throw std::system_error(std::make_error_code(std::errc::invalid_argument), "the host's name");
    } catch (const std::system_error& error) {
        state_ = State::Closed;
        done("TLS to " + where + ": " + error.what());
        return;
    }
    auto alive = alive_;
    tls_->async_handshake(asio::ssl::stream_base::client, [this, alive, done, where, keep = tls_,
                                                           context = tlsContext_](const std::error_code& error) {
        if (!*alive) return;
        if (error) {
            state_ = State::Closed;
            std::error_code ignored;
            socket_.close(ignored);
            // OpenSSL's verdict on the certificate says which it was (expired, another CA, ...);
            // the handshake's error only says that the verification failed.
            if (connectTimedOut_) {
                done("TLS handshake with " + where + ": no answer within " + std::to_string(timeout_.count()) +
                     " ms (is it Redis's tls-port? A plain Redis port never answers a TLS hello)");
                return;
            }
            const long verdict = SSL_get_verify_result(tls_->native_handle());
            const std::string why =
                verdict == X509_V_OK ? std::string() : std::string(": ") + X509_verify_cert_error_string(verdict);
            done("TLS handshake with " + where + " failed: " + error.message() + why +
                 " (is --broker-tls-ca the CA that signed Redis's certificate, and does it name the host?)");
            return;
        }
        authenticate(done);
    });
}

void RedisConnection::authenticate(std::function<void(std::optional<std::string>)> done) {
    connectTimer_.cancel();
    state_ = State::Open;
    startRead();
    // AUTH and SELECT go first; the connection is ready once both are answered.
    // The reason a handshake failed is shown (healthz, every 503, the log): an answer that
    // repeats the password is cut. A Redis whose AUTH was renamed away (rename-command AUTH
    // "") answers "ERR unknown command 'AUTH', with args beginning with: '<the password>'".
    auto failed = std::make_shared<std::optional<std::string>>();
    auto check = [failed, secret = endpoint_.password](const char* what) {
        return [failed, what, secret](const RedisValue* reply) {
            if (!*failed && (!reply || reply->isError())) {
                *failed = std::string(what) + ": " + (reply ? shownReply(reply->text, secret) : "no answer");
            }
        };
    };
    if (!endpoint_.password.empty()) {
        if (endpoint_.user.empty()) {
            command({"AUTH", endpoint_.password}, check("AUTH"));
        } else {
            command({"AUTH", endpoint_.user, endpoint_.password}, check("AUTH"));
        }
    }
    if (endpoint_.db != 0) command({"SELECT", std::to_string(endpoint_.db)}, check("SELECT"));
    if (!endpoint_.sentinels.empty()) {
        // What a sentinel named may have been demoted since: only a master will do.
        command({"ROLE"}, [this, failed](const RedisValue* reply) {
            if (*failed) return;
            if (!reply || reply->type != RedisValue::Type::Array || reply->elements.empty()) {
                *failed = "ROLE: " + (reply && reply->isError() ? shownReply(reply->text, endpoint_.password)
                                                                : std::string("no answer"));
            } else if (reply->elements[0].text != "master") {
                *failed = "the sentinels named " + address() + " for '" + endpoint_.masterName + "', but it is a " +
                          shownReply(reply->elements[0].text, endpoint_.password);
            }
        });
    }
    command({"PING"}, [this, failed, done, check](const RedisValue* reply) {
        check("PING")(reply);
        if (*failed) close(**failed);
        done(*failed);
    });
}

void RedisConnection::command(const std::vector<std::string>& args, Callback done) {
    if (state_ != State::Open) {
        done(nullptr);
        return;
    }
    std::shared_ptr<const std::vector<std::string>> kept;
    if (redirect_) kept = std::make_shared<const std::vector<std::string>>(args);
    enqueue(std::move(kept), args, std::move(done), 0);
}

void RedisConnection::command(std::shared_ptr<const std::vector<std::string>> args, Callback done) {
    if (state_ != State::Open) {
        done(nullptr);
        return;
    }
    auto kept = redirect_ ? args : nullptr;
    enqueue(std::move(kept), *args, std::move(done), 0);
}

void RedisConnection::enqueue(std::shared_ptr<const std::vector<std::string>> args, const std::vector<std::string>& raw,
                              Callback done, int waits) {
    pending_.push_back(Pending{std::move(done), std::chrono::steady_clock::now() + timeout_, std::move(args), waits});
    outbox_.push_back(formatted(raw));
    writeMore();
    if (pending_.size() == 1) armTimer();
}

std::string RedisConnection::formatted(const std::vector<std::string>& args) const {
    auto named = [](const std::string& arg) { return !arg.empty() && arg[0] == kSelf[0] && startsWith(arg, kSelf); };
    if (std::none_of(args.begin(), args.end(), named)) return format(args);
    std::vector<std::string> copy = args;
    const std::string self = self_ ? self_() : std::string("? ? -");
    for (std::string& arg : copy) {
        if (named(arg)) arg = self + arg.substr(kSelf.size());
    }
    return format(copy);
}

bool RedisConnection::redirected(Pending& waiting, const RedisValue& reply) {
    if (startsWith(reply.text, "TRYAGAIN")) {
        if (waiting.waits >= kTryAgainWaits) return false;
        park(std::move(waiting.args), std::move(waiting.done), waiting.waits + 1);
        return true;
    }
    // "ASK <slot> <host>:<port>" (":<port>": this connection's host)
    if (!redirect_ || !startsWith(reply.text, "ASK ")) return false;
    const std::size_t space = reply.text.find(' ', 4);
    if (space == std::string::npos || space + 1 >= reply.text.size()) return false;
    std::string address = reply.text.substr(space + 1);
    if (address[0] == ':') address = endpoint_.host + address;
    ++asksFollowed_;
    auto alive = alive_;
    auto answer = std::make_shared<RedisValue>(reply);
    redirect_(address, [this, alive, args = std::move(waiting.args), done = std::move(waiting.done),
                        waits = waiting.waits, answer](RedisConnection* target) {
        if (!target || !target->connected()) {
            done(answer.get());  // nowhere to go: the caller hears the ASK
            return;
        }
        auto ask = [target, args](Callback then) {
            target->enqueue(
                nullptr, {"ASKING"}, [](const RedisValue*) {}, 0);
            target->enqueue(nullptr, *args, std::move(then), 0);
        };
        // Its keys half moved (TRYAGAIN at the target): waited out, then sent here again.
        ask([this, alive, args, done, waits](const RedisValue* there) {
            if (there && there->isError() && startsWith(there->text, "TRYAGAIN") && *alive && state_ == State::Open &&
                waits < kTryAgainWaits) {
                park(args, done, waits + 1);
                return;
            }
            done(there);
        });
    });
    return true;
}

void RedisConnection::park(std::shared_ptr<const std::vector<std::string>> args, Callback done, int waits) {
    ++tryAgainsWaited_;
    auto parked = std::make_shared<Parked>(
        Parked{asio::steady_timer(io_, kTryAgainWait), std::move(args), std::move(done), waits});
    parked_.push_back(parked);
    auto alive = alive_;
    parked->timer.async_wait([this, alive, parked](const std::error_code&) {
        if (!*alive) return;
        auto found = std::find(parked_.begin(), parked_.end(), parked);
        if (found == parked_.end()) return;  // failed by close()
        parked_.erase(found);
        if (state_ != State::Open) {
            parked->done(nullptr);
            return;
        }
        enqueue(parked->args, *parked->args, std::move(parked->done), parked->waits);
    });
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
    withStream([&](auto& stream) {
        asio::async_write(
            stream, asio::buffer(*batch),
            [this, alive, batch, keep = tls_, context = tlsContext_](const std::error_code& ec, std::size_t) {
                if (!*alive) return;
                writing_ = false;
                if (ec) {
                    fail("write failed: " + ec.message());
                    return;
                }
                writeMore();
            });
    });
}

void RedisConnection::startRead() {
    auto alive = alive_;
    withStream([&](auto& stream) {
        stream.async_read_some(asio::buffer(buffer_), [this, alive, keep = tls_, context = tlsContext_](
                                                          const std::error_code& ec, std::size_t size) {
            if (!*alive) return;
            if (ec) {
                fail(ec == asio::error::eof || ec == asio::ssl::error::stream_truncated
                         ? std::string("closed by Redis")
                         : "read failed: " + ec.message());
                return;
            }
            onBytes(size);
            // A reply's callback may have closed or destroyed this connection.
            if (*alive && state_ == State::Open) startRead();
        });
    });
}

void RedisConnection::onBytes(std::size_t size) {
    // Each reply's callback may close this connection or destroy it (its owner replacing
    // it): nothing of it is touched after a callback without checking.
    auto alive = alive_;
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
        if (raw == nullptr) {
            // The rest of a reply still to come: bounded, whatever length Redis declared. The
            // reader stops at the item it cannot finish yet: a bulk string declared longer
            // than the bound is refused at its header, before its bytes are buffered (growing
            // the buffer to the bound is slow where realloc copies, as under ASan).
            if (reader_->len - reader_->pos > kMaxReplyBytes || declaredTooLong()) {
                fail("a reply from Redis over " + std::to_string(kMaxReplyBytes >> 20) + " MiB");
            }
            return;
        }
        elementBudget_ = kMaxReplyElements;
        lastReply_ = std::chrono::steady_clock::now();
        RedisValue value = copyReply(static_cast<redisReply*>(raw));
        freeReplyObject(raw);
        if (!pending_.empty()) {
            Pending waiting = std::move(pending_.front());
            pending_.pop_front();
            if (!(waiting.args && value.isError() && redirected(waiting, value))) waiting.done(&value);
        } else if (pushHandler_) {
            pushHandler_(value);
        } else {
            // A command connection hears only answers, one per command sent.
            fail("a reply from Redis that answers no command");
            return;
        }
        if (!*alive || state_ != State::Open) return;
    }
}

bool RedisConnection::declaredTooLong() const {
    // hiredis reads an item's type byte first (the task's type is then set and `pos` is past
    // it), and its length line only once the whole bulk is there.
    if (reader_->ridx < 0) return false;
    const int type = reader_->rstack[reader_->ridx].type;
    const char* at = reader_->buf + reader_->pos;
    const char* end = reader_->buf + reader_->len;
    if (type < 0 && at != end && *at == '$') {
        ++at;
    } else if (type != REDIS_REPLY_STRING) {
        return false;
    }
    const char* lineEnd = static_cast<const char*>(std::memchr(at, '\r', static_cast<std::size_t>(end - at)));
    if (!lineEnd) return false;
    unsigned long long declared = 0;
    const auto [stop, problem] = std::from_chars(at, lineEnd, declared);
    return problem == std::errc::result_out_of_range || (problem == std::errc() && declared > kMaxReplyBytes);
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
    auto alive = alive_;
    close(why);  // the failed commands' callbacks may destroy this connection
    if (*alive && wasOpen && closedHandler_) closedHandler_(why);
}

void RedisConnection::close(const std::string&) {
    if (state_ == State::Closed) return;
    state_ = State::Closed;
    std::error_code ignored;
    socket_.close(ignored);
    timer_.cancel();
    outbox_.clear();
    newReader();
    auto pending = std::move(pending_);
    pending_.clear();
    auto parked = std::move(parked_);
    parked_.clear();
    for (auto& one : parked) one->timer.cancel();
    for (Pending& waiting : pending) waiting.done(nullptr);
    for (auto& one : parked) one->done(nullptr);
}

RedisAskTargets::RedisAskTargets(asio::io_context& io, RedisEndpoint like, std::chrono::milliseconds timeout)
    : io_(io), like_(std::move(like)), timeout_(timeout) {
    like_.sentinels.clear();
    like_.announcedPort = 0;
}

RedisAskTargets::~RedisAskTargets() {
    *alive_ = false;
    close();
}

RedisConnection::Redirect RedisAskTargets::redirect() {
    auto alive = alive_;
    return [this, alive](const std::string& address, std::function<void(RedisConnection*)> then) {
        if (!*alive) {
            then(nullptr);
            return;
        }
        find(address, std::move(then));
    };
}

void RedisAskTargets::find(const std::string& address, std::function<void(RedisConnection*)> then) {
    const std::size_t colon = address.rfind(':');
    const int port = colon == std::string::npos ? 0 : std::atoi(address.c_str() + colon + 1);
    if (closed_ || colon == 0 || port <= 0 || port > 65535) {
        then(nullptr);
        return;
    }
    Target& target = targets_[address];
    if (target.connection && target.ready && target.connection->connected()) {
        then(target.connection.get());
        return;
    }
    target.waiting.push_back(std::move(then));
    if (target.connecting) return;  // told when it is done
    if (target.connection) {
        // Lost since: let go on a later turn (this may run inside one of its callbacks).
        std::shared_ptr<RedisConnection> spent(std::move(target.connection));
        spent->close("replaced");
        asio::post(io_, [spent] {});
    }
    RedisEndpoint endpoint = like_;
    endpoint.host = address.substr(0, colon);
    endpoint.port = port;
    target.ready = false;
    target.connecting = true;
    target.connection = std::make_unique<RedisConnection>(io_, endpoint, timeout_);
    RedisConnection* connection = target.connection.get();
    auto alive = alive_;
    connection->onClosed([this, alive, address, connection](const std::string&) {
        if (!*alive) return;
        auto it = targets_.find(address);
        if (it != targets_.end() && it->second.connection.get() == connection) it->second.ready = false;
    });
    connection->connect([this, alive, address, connection](std::optional<std::string> error) {
        if (!*alive) return;
        auto it = targets_.find(address);
        if (it == targets_.end() || it->second.connection.get() != connection) return;
        // A failed one is made again at the next ASK.
        it->second.connecting = false;
        it->second.ready = !error;
        auto waiting = std::exchange(it->second.waiting, {});
        for (auto& told : waiting) told(error ? nullptr : connection);
    });
}

void RedisAskTargets::close() {
    if (closed_) return;
    closed_ = true;
    auto targets = std::move(targets_);
    targets_.clear();
    for (auto& [address, target] : targets) {
        for (auto& then : std::exchange(target.waiting, {})) then(nullptr);
        if (!target.connection) continue;
        std::shared_ptr<RedisConnection> spent(std::move(target.connection));
        spent->close("stopping");
        asio::post(io_, [spent] {});
    }
}

}  // namespace pushwire::server
