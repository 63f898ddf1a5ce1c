// The client core's Platform outside the browser: an asio io_context (the application's:
// it runs it, or gives it a thread) for timers and WebSocket connections, and cpp-httplib's
// blocking client for HTTP requests and SSE streams, each run on a thread of its own whose
// results are posted back to the io_context.
//
// Threading: every method, and every callback the core or a transport is given, runs on
// the thread running the io_context. Worker threads touch nothing but their own request
// and post(). Lifetimes: the platform outlives its ClientCore (pushwire::Client owns
// both); its destructor stops every request still in flight and joins the workers.
#pragma once

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include "core/platform.hpp"

namespace httplib {
class Client;
}

namespace pushwire::client {

class WebSocketEndpoint;
class TlsWebSocketEndpoint;

// An http:// or https:// URL split for cpp-httplib: "http://host:port" and "/path?query".
struct SplitUrl {
    std::string origin;
    std::string target;
};
// Empty origin: not an http:// or https:// URL.
SplitUrl splitHttpUrl(const std::string& url);

class NativePlatform final : public Platform {
public:
    // `caFile`: PEM certificates that https:// and wss:// servers are verified against;
    // empty: the system's store. Servers are always verified (certificate and host name).
    NativePlatform(asio::io_context& io, std::string caFile);
    ~NativePlatform() override;
    NativePlatform(const NativePlatform&) = delete;
    NativePlatform& operator=(const NativePlatform&) = delete;

    std::int64_t nowMs() override;
    std::int64_t monotonicMs() override;
    TimerId setTimer(int delayMs, Callback<void()> callback) override;
    void cancelTimer(TimerId id) override;
    RequestId httpRequest(const std::string& method, const std::string& url, const std::string& body,
                          const std::string& bearer, int timeoutMs, Callback<void(const HttpResponse&)> done) override;
    void abortRequest(RequestId id) override;
    double random01() override;
    std::string randomHex(int chars) override;

    asio::io_context& io() { return io_; }
    // Runs `fn` on the io_context's thread, unless this platform is gone by then.
    void post(std::function<void()> fn);

    // Work that blocks (a request, a stream) on a thread of its own. `work` gets a flag
    // that is set once the job is cancelled; `stop` (called on the loop thread, at
    // cancel) must make a blocked `work` return soon (httplib::Client::stop()).
    using JobId = int;
    JobId startJob(std::function<void(const std::atomic<bool>& cancelled)> work, std::function<void()> stop);
    void cancelJob(JobId id);

    // The websocketpp client endpoints shared by this platform's WebSocket transports:
    // ws:// and wss:// (verified as caFile says).
    WebSocketEndpoint& websocket();
    TlsWebSocketEndpoint& secureWebSocket();

    // A cpp-httplib client for `origin` (http:// or https://: verified as caFile says).
    std::shared_ptr<httplib::Client> httpClient(const std::string& origin) const;

private:
    struct Job;
    void reapJobs();

    asio::io_context& io_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    std::map<TimerId, std::unique_ptr<asio::steady_timer>> timers_;
    std::map<RequestId, JobId> requests_;
    std::map<JobId, std::unique_ptr<Job>> jobs_;
    std::string caFile_;
    std::unique_ptr<WebSocketEndpoint> websocket_;
    std::unique_ptr<TlsWebSocketEndpoint> secureWebSocket_;
    std::mt19937_64 random_;
    int nextId_ = 1;
};

}  // namespace pushwire::client
