#include "fake_platform.hpp"

#include <algorithm>

namespace pushwire::test {

TimerId FakePlatform::setTimer(int delayMs, client::Callback<void()> callback) {
    TimerId id = nextId_++;
    timers_[id] = Timer{now_ + std::max(0, delayMs), std::move(callback)};
    return id;
}

RequestId FakePlatform::httpRequest(const std::string& method, const std::string& url, const std::string& body,
                                    const std::string& bearer, int timeoutMs,
                                    client::Callback<void(const HttpResponse&)> done) {
    RequestId id = nextId_++;
    requests_[id] = Request{id, method, url, body, bearer, timeoutMs, std::move(done)};
    return id;
}

void FakePlatform::advance(int ms) {
    const std::int64_t end = now_ + ms;
    for (;;) {
        auto next = timers_.end();
        for (auto it = timers_.begin(); it != timers_.end(); ++it) {
            if (it->second.due <= end && (next == timers_.end() || it->second.due < next->second.due)) next = it;
        }
        if (next == timers_.end()) break;
        now_ = std::max(now_, next->second.due);
        auto callback = std::move(next->second.callback);
        timers_.erase(next);
        callback();
    }
    now_ = end;
}

bool FakePlatform::respond(const std::string& fragment, int status, const std::string& body) {
    for (auto& [id, request] : requests_) {
        if (request.url.find(fragment) != std::string::npos) {
            auto done = std::move(request.done);
            requests_.erase(id);
            done(HttpResponse{status, body});
            return true;
        }
    }
    return false;
}

std::vector<FakePlatform::Request*> FakePlatform::open(const std::string& fragment) {
    std::vector<Request*> out;
    for (auto& [id, request] : requests_) {
        if (request.url.find(fragment) != std::string::npos) out.push_back(&request);
    }
    return out;
}

std::vector<FakeTransport*>& FakeRegistry::made() {
    static std::vector<FakeTransport*> instances;
    return instances;
}

namespace {
template <client::TransportKind Kind>
std::unique_ptr<client::Transport> makeFake(client::TransportListener& l, client::Platform& p,
                                            client::TransportConfig c, int g) {
    auto t = std::make_unique<FakeTransport>(l, p, std::move(c), g);
    FakeRegistry::made().push_back(t.get());
    return t;
}
}  // namespace

std::vector<client::TransportInfo> FakeRegistry::table() {
    using client::TransportKind;
    return {
        {TransportKind::WebSocket, "websocket", {true, false, true}, makeFake<TransportKind::WebSocket>},
        {TransportKind::Sse, "sse", {false, true, true}, makeFake<TransportKind::Sse>},
        {TransportKind::LongPoll, "longpoll", {false, true, false}, makeFake<TransportKind::LongPoll>},
        {TransportKind::Poll, "poll", {false, true, false}, makeFake<TransportKind::Poll>},
    };
}

std::string negotiateBody(const std::string& transports, const std::string& epoch) {
    return R"({"protocol":1,"transports":)" + transports +
           R"(,"websocket_url":"ws://h:2/pushwire/ws","heartbeat_ms":1000,"epoch":")" + epoch + R"("})";
}

}  // namespace pushwire::test
