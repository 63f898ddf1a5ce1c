// A fake clock, timers and HTTP for the client core: tests advance time explicitly
// and answer requests by hand. Plus a scriptable fake transport.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/client_core.hpp"
#include "core/platform.hpp"
#include "core/transport.hpp"

namespace pushwire::test {

using client::HttpResponse;
using client::Platform;
using client::RequestId;
using client::TimerId;

class FakePlatform final : public Platform {
public:
    struct Request {
        RequestId id;
        std::string method, url, body, bearer;
        int timeoutMs;
        client::Callback<void(const HttpResponse&)> done;
    };

    std::int64_t nowMs() override { return now_; }
    TimerId setTimer(int delayMs, client::Callback<void()> callback) override;
    void cancelTimer(TimerId id) override { timers_.erase(id); }
    RequestId httpRequest(const std::string& method, const std::string& url, const std::string& body,
                          const std::string& bearer, int timeoutMs,
                          client::Callback<void(const HttpResponse&)> done) override;
    void abortRequest(RequestId id) override { requests_.erase(id); }
    double random01() override { return random_; }

    // Runs every timer due within `ms`, in order.
    void advance(int ms);
    // Answers the oldest open request whose URL contains `fragment`; false if none.
    bool respond(const std::string& fragment, int status, const std::string& body);
    std::vector<Request*> open(const std::string& fragment = "");
    std::size_t timerCount() const { return timers_.size(); }

    double random_ = 0.5;

private:
    struct Timer {
        std::int64_t due;
        client::Callback<void()> callback;
    };
    std::int64_t now_ = 1000;
    std::map<TimerId, Timer> timers_;
    std::map<RequestId, Request> requests_;
    int nextId_ = 1;
};

// Records what the core asks of it; the test plays the server's side.
class FakeTransport final : public client::Transport {
public:
    using client::Transport::Transport;
    void open() override { opened = true; }
    void channelsChanged(const std::vector<std::string>& a, const std::vector<std::string>& r) override {
        added.insert(added.end(), a.begin(), a.end());
        removed.insert(removed.end(), r.begin(), r.end());
    }
    bool send(const std::string& frame) override {
        sent.push_back(frame);
        return true;
    }
    void close() override { closed = true; }

    client::TransportListener& listener() { return listener_; }
    int gen() const { return generation_; }
    const client::TransportConfig& config() const { return config_; }

    bool opened = false;
    bool closed = false;
    std::vector<std::string> added, removed, sent;
};

// A registry of fake transports that remembers every instance it made.
struct FakeRegistry {
    static std::vector<FakeTransport*>& made();
    static std::vector<client::TransportInfo> table();
};

std::string negotiateBody(const std::string& transports = R"(["websocket","sse","longpoll","poll"])",
                          const std::string& epoch = "e1");

}  // namespace pushwire::test
