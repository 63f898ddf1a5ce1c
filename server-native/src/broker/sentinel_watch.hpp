// Follows Sentinel's announcements of a new master (--broker redis+sentinel://..., docs/
// scaling.md, "Sentinel"): one connection to one of the sentinels, subscribed to
// +switch-master. When the master the broker follows moves, `switched(host, port)` runs at
// once, so the node moves to the promoted replica as soon as Sentinel names it rather than
// when its connection drops, a write meets READONLY or a pub/sub probe goes unanswered
// (those remain: this watch is the fast path, not the only one).
//
// The sentinel is reached as RedisConnection reaches them (sentinelEndpoint(): its password,
// TLS when the URL is rediss+sentinel://). A lost watch connection tries the next sentinel
// after 0.5-1 s, in turn.
//
// Threading: the loop thread.
#pragma once

#include <asio.hpp>
#include <functional>
#include <memory>
#include <string>

#include "broker/redis_connection.hpp"

namespace pushwire::server {

class SentinelWatch {
public:
    using Switched = std::function<void(const std::string& host, int port)>;

    // `endpoint`: the broker's (its sentinels, master name, sentinel password and TLS).
    SentinelWatch(asio::io_context& io, RedisEndpoint endpoint, Switched switched);
    ~SentinelWatch();
    SentinelWatch(const SentinelWatch&) = delete;
    SentinelWatch& operator=(const SentinelWatch&) = delete;

    void start();
    void stop();
    // Subscribed on a sentinel now.
    bool watching() const { return watching_; }
    std::uint64_t switches() const { return switches_; }

private:
    void connect();
    void retryLater();
    void onPush(const RedisValue& push);

    asio::io_context& io_;
    RedisEndpoint endpoint_;
    Switched switched_;
    std::unique_ptr<RedisConnection> connection_;
    asio::steady_timer retry_;
    std::size_t next_ = 0;  // the sentinel to try next
    bool watching_ = false;
    bool stopped_ = false;
    std::uint64_t switches_ = 0;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace pushwire::server
