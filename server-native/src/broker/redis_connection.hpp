// One connection to Redis on the server's own event loop: commands are pipelined and
// answered in order; nothing blocks the loop. Commands are formatted and replies parsed by
// hiredis (its formatter and reader: the protocol code); the socket, the pipelining and
// the deadlines are this class's.
//
// Why not hiredis's own async layer: Debian's hiredis 0.14 routes only the classic
// pub/sub replies ("message"), not the sharded ones Redis 7 sends ("smessage"), and has
// no command timeouts; a silent Redis would hold publishes forever instead of failing
// them with broker_unavailable.
//
// A command unanswered past its deadline fails the connection only when Redis is silent:
// nothing answered for the timeout and nothing waiting unread on the socket. A loop kept
// busy (a flood of deliveries) reads replies late; that is no reason to drop a Redis
// that answers.
//
// Redis Cluster redirections (onRedirect): a command answered `ASK <slot> <host:port>` (its
// slot is being migrated and its keys are not, or no longer, here) did not run: it is sent
// once to the master named, `ASKING` just ahead of it on that connection (queued in one
// turn: nothing comes between them). One answered `TRYAGAIN` (a command's keys split
// between source and target for the moment of a MIGRATE, or on neither side yet) did not
// run either: it is sent here again after 50 ms, up to 20 times, from the start (so an
// ASK then TRYAGAIN at the target comes back here first). Only then does the caller hear
// the answer. Every caller of command() gets this: broker scripts and reads, presence,
// the server API. MOVED is the caller's (the slot map is stale: its owner re-reads it).
//
// An argument that begins with kSelf names the process it runs on: the prefix is
// replaced, when the command is written to a connection, by that connection's self()
// text (the owner's, e.g. "<run_id> <...>"): a command redirected by ASK tells the
// target's identity, not the source's.
//
// Threading: the loop thread. Every callback runs once, on the loop thread: with the
// reply, or with null when the connection failed, timed out or closed first.
#pragma once

#include <asio.hpp>
#include <asio/ssl.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct redisReader;

namespace pushwire::server {

// A reply, copied out of hiredis's reply tree.
struct RedisValue {
    enum class Type { Nil, Integer, String, Status, Error, Array };
    Type type = Type::Nil;
    long long integer = 0;
    std::string text;  // String, Status, Error
    std::vector<RedisValue> elements;

    bool isError() const { return type == Type::Error; }
    bool isString() const { return type == Type::String || type == Type::Status; }
};

struct RedisEndpoint {
    std::string host = "127.0.0.1";
    int port = 6379;
    std::string user;  // an ACL user: AUTH user password ("": AUTH password)
    std::string password;
    int db = 0;
    // TLS (rediss://): Redis's certificate is checked against `tlsCa` (the system's CAs when
    // empty) and the host name or address; a client certificate when the files are given.
    bool tls = false;
    std::string tlsCa;
    std::string tlsCert;
    std::string tlsKey;
    // Sentinel (redis+sentinel://): host and port are asked of these sentinels, in turn
    // (SENTINEL get-master-addr-by-name), on every connect; the process found must say it is
    // the master (ROLE). Empty: host and port as given.
    std::vector<std::pair<std::string, int>> sentinels;
    std::string masterName;
    // The sentinels' own password (AUTH password; their `requirepass`), "" for none; the
    // sentinels speak TLS when `tls` is set (rediss+sentinel://), checked as Redis's.
    std::string sentinelPassword;
    // The master a sentinel just announced (+switch-master, broker/sentinel_watch.hpp):
    // connected to without asking (ROLE still checked); 0: ask the sentinels.
    std::string announcedHost;
    int announcedPort = 0;
};

// How to reach sentinel `index` of `endpoint`.
RedisEndpoint sentinelEndpoint(const RedisEndpoint& endpoint, std::size_t index);

class RedisConnection {
public:
    using Callback = std::function<void(const RedisValue* reply)>;  // null: no answer
    using PushHandler = std::function<void(const RedisValue& push)>;
    // Finds an open connection to "host:port" (an ASK's target) and calls `then` with it,
    // or with null when there is none (the caller then hears the ASK answer).
    using Redirect = std::function<void(const std::string& address, std::function<void(RedisConnection*)> then)>;

    // The prefix of an argument that names the process it runs on (see above).
    static const std::string kSelf;
    // ASK answers followed and TRYAGAIN answers waited out, by every connection of the
    // process (for the metrics and the tests).
    static std::uint64_t asksFollowed();
    static std::uint64_t tryAgainsWaited();

    RedisConnection(asio::io_context& io, RedisEndpoint endpoint, std::chrono::milliseconds timeout);
    ~RedisConnection();
    RedisConnection(const RedisConnection&) = delete;
    RedisConnection& operator=(const RedisConnection&) = delete;

    // Connects, authenticates and selects the database; `done` gets nullopt or what failed.
    void connect(std::function<void(std::optional<std::string> error)> done);
    // Queues a command; `done` gets its reply.
    void command(const std::vector<std::string>& args, Callback done);
    // The same for arguments the caller shares: kept for a redirect without a copy (a
    // publish's payload is one of them).
    void command(std::shared_ptr<const std::vector<std::string>> args, Callback done);
    // Sends a command whose replies come as pushes (SUBSCRIBE and the like).
    void send(const std::vector<std::string>& args);
    // Replies that answer no command (pub/sub messages and confirmations) go here.
    void onPush(PushHandler handler) { pushHandler_ = std::move(handler); }
    // Told once when an open connection fails or is closed (not for close()).
    void onClosed(std::function<void(const std::string& why)> handler) { closedHandler_ = std::move(handler); }
    // Follows ASK and TRYAGAIN for every command() from now on (a Redis Cluster's master).
    void onRedirect(Redirect redirect) { redirect_ = std::move(redirect); }
    // What a kSelf argument becomes on this connection.
    void self(std::function<std::string()> text) { self_ = std::move(text); }
    void close(const std::string& why);

    bool connected() const { return state_ == State::Open; }
    // Redis sent something (a reply or a push) within `window`, or bytes wait unread.
    bool heardWithin(std::chrono::milliseconds window) const;
    // Where the connection went (with Sentinel: the master the sentinels named).
    std::string address() const { return endpoint_.host + ":" + std::to_string(endpoint_.port); }
    std::size_t pending() const { return pending_.size(); }

    // What one reply from Redis may be, at most: over it the connection is given up (the
    // commands waiting on it fail: 503), whatever the server on the other side declares. The
    // broker's stream reads ask for at most 32 MiB of messages (and always one whole message,
    // at most --max-message-bytes, 64 MiB: redis_broker.cpp), so an honest reply stays below.
    static constexpr std::size_t kMaxReplyBytes = 128u << 20;
    static constexpr std::size_t kMaxReplyElements = 4u << 20;

private:
    enum class State { Idle, Connecting, Open, Closed };
    void newReader();
    // The item the reader waits to finish is a bulk string declared over kMaxReplyBytes.
    bool declaredTooLong() const;
    struct Pending {
        Callback done;
        std::chrono::steady_clock::time_point deadline;
        // Kept to send it again (ASK, TRYAGAIN) when redirections are followed.
        std::shared_ptr<const std::vector<std::string>> args;
        int waits = 0;  // TRYAGAIN answers waited out so far
    };
    struct Parked;  // a command waiting out a TRYAGAIN

    void enqueue(std::shared_ptr<const std::vector<std::string>> args, const std::vector<std::string>& raw,
                 Callback done, int waits);
    std::string formatted(const std::vector<std::string>& args) const;
    // The reply was ASK or TRYAGAIN and is followed: true when it was taken care of.
    bool redirected(Pending& waiting, const RedisValue& reply);
    void askAt(RedisConnection& target, std::shared_ptr<const std::vector<std::string>> args, Callback done, int waits);
    void park(std::shared_ptr<const std::vector<std::string>> args, Callback done, int waits);

    void startRead();
    void onBytes(std::size_t size);
    void writeMore();
    void armTimer();
    void fail(const std::string& why);
    void connectTo(std::function<void(std::optional<std::string>)> done);
    // Connects to addresses[index], then the next on failure. One address at a time with
    // the socket's own async_connect, not asio::async_connect over the range: that composed
    // operation reads the socket object again when it completes, after a connection closed
    // and destroyed meanwhile (heap-use-after-free under ASan).
    void connectNext(std::shared_ptr<std::vector<asio::ip::tcp::endpoint>> addresses, std::size_t index,
                     std::string errors, std::function<void(std::optional<std::string>)> done);
    void askSentinel(std::size_t index, std::string errors, std::function<void(std::optional<std::string>)> done);
    void handshake(std::function<void(std::optional<std::string>)> done);
    void authenticate(std::function<void(std::optional<std::string>)> done);
    // Calls f with the stream bytes go through: the TLS stream, or the plain socket.
    template <typename F>
    void withStream(F&& f) {
        if (tls_) {
            f(*tls_);
        } else {
            f(socket_);
        }
    }

    asio::io_context& io_;
    RedisEndpoint endpoint_;
    std::chrono::milliseconds timeout_;
    asio::ip::tcp::socket socket_;
    // Shared with every operation in flight on them: an SSL operation completing after a
    // reconnect replaced the stream, or after this connection was destroyed (aborted),
    // still reads the stream's own buffers before it reaches the handler.
    std::shared_ptr<asio::ssl::context> tlsContext_;
    std::shared_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls_;
    asio::steady_timer timer_;
    // Connecting (the TCP connect and the TLS handshake) ends within timeout_: a plain
    // Redis port sent a TLS hello waits for a line that never comes, and says nothing.
    asio::steady_timer connectTimer_;
    bool connectTimedOut_ = false;
    std::chrono::steady_clock::time_point lastReply_;  // when Redis last answered anything
    redisReader* reader_ = nullptr;
    // Array elements the reply being read may still declare (kMaxReplyElements a reply):
    // hiredis 0.14 allocates an array as its header arrives, whatever the count.
    std::size_t elementBudget_ = 0;
    State state_ = State::Idle;
    std::deque<Pending> pending_;
    std::deque<std::string> outbox_;
    bool writing_ = false;
    std::vector<char> buffer_;
    PushHandler pushHandler_;
    std::function<void(const std::string&)> closedHandler_;
    Redirect redirect_;
    std::function<std::string()> self_;
    std::list<std::shared_ptr<Parked>> parked_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// Connections to the masters an ASK names, made when first needed and kept (for an owner
// without a connection of its own to every master: the server API's). Each is made as
// `like` (TLS, user, password), at the address named.
class RedisAskTargets {
public:
    RedisAskTargets(asio::io_context& io, RedisEndpoint like, std::chrono::milliseconds timeout);
    ~RedisAskTargets();
    RedisAskTargets(const RedisAskTargets&) = delete;
    RedisAskTargets& operator=(const RedisAskTargets&) = delete;

    // For RedisConnection::onRedirect.
    RedisConnection::Redirect redirect();
    void close();

private:
    struct Target {
        std::unique_ptr<RedisConnection> connection;
        bool connecting = false;
        bool ready = false;
        std::vector<std::function<void(RedisConnection*)>> waiting;  // until connected
    };
    void find(const std::string& address, std::function<void(RedisConnection*)> then);

    asio::io_context& io_;
    RedisEndpoint like_;
    std::chrono::milliseconds timeout_;
    std::map<std::string, Target> targets_;
    bool closed_ = false;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace pushwire::server
