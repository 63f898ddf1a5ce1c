#include "native_platform.hpp"

#include <httplib.h>

#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>
#include <chrono>

#include "http_errors.hpp"
#include "websocket_endpoint.hpp"

namespace pushwire::client {

struct NativePlatform::Job {
    std::thread thread;
    std::atomic<bool> cancelled{false};
    std::atomic<bool> exited{false};
    std::function<void()> stop;
};

SplitUrl splitHttpUrl(const std::string& url) {
    std::size_t schemeEnd = 0;
    if (url.compare(0, 7, "http://") == 0) schemeEnd = 7;
    if (url.compare(0, 8, "https://") == 0) schemeEnd = 8;
    if (!schemeEnd) return {};
    const std::size_t slash = url.find('/', schemeEnd);
    if (slash == std::string::npos) return {url, "/"};
    return {url.substr(0, slash), url.substr(slash)};
}

NativePlatform::NativePlatform(asio::io_context& io, std::string caFile)
    : io_(io), caFile_(std::move(caFile)), random_(std::random_device{}()) {}

std::shared_ptr<httplib::Client> NativePlatform::httpClient(const std::string& origin) const {
    return std::make_shared<httplib::Client>(makeHttpClient(origin, caFile_));
}

NativePlatform::~NativePlatform() {
    *alive_ = false;
    for (auto& [id, timer] : timers_) timer->cancel();
    websocket_.reset();
    secureWebSocket_.reset();
    for (auto& [id, job] : jobs_) {
        job->cancelled = true;
        if (job->stop) job->stop();
    }
    for (auto& [id, job] : jobs_) {
        if (job->thread.joinable()) job->thread.join();
    }
}

std::int64_t NativePlatform::nowMs() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::int64_t NativePlatform::monotonicMs() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

TimerId NativePlatform::setTimer(int delayMs, Callback<void()> callback) {
    const TimerId id = nextId_++;
    auto timer = std::make_unique<asio::steady_timer>(io_, std::chrono::milliseconds(delayMs < 0 ? 0 : delayMs));
    auto shared = std::make_shared<Callback<void()>>(std::move(callback));
    std::weak_ptr<bool> alive = alive_;
    timer->async_wait([this, id, alive, shared](const std::error_code& ec) {
        if (ec || alive.expired() || !*alive.lock()) return;
        auto it = timers_.find(id);
        if (it == timers_.end()) return;  // cancelled
        // Erased before the call: the callback may set or cancel timers.
        auto keep = std::move(it->second);
        timers_.erase(it);
        (*shared)();
    });
    timers_.emplace(id, std::move(timer));
    return id;
}

void NativePlatform::cancelTimer(TimerId id) {
    auto it = timers_.find(id);
    if (it == timers_.end()) return;
    it->second->cancel();
    timers_.erase(it);
}

void NativePlatform::post(std::function<void()> fn) {
    std::weak_ptr<bool> alive = alive_;
    asio::post(io_, [alive, fn = std::move(fn)] {
        auto flag = alive.lock();
        if (flag && *flag) fn();
    });
}

NativePlatform::JobId NativePlatform::startJob(std::function<void(const std::atomic<bool>&)> work,
                                               std::function<void()> stop) {
    reapJobs();
    const JobId id = nextId_++;
    auto job = std::make_unique<Job>();
    job->stop = std::move(stop);
    Job* raw = job.get();
    // Work for the io_context while the job runs: io.run() does not return while a
    // request is in flight or a stream is open (their results come by post()).
    auto guard = std::make_shared<asio::executor_work_guard<asio::io_context::executor_type>>(io_.get_executor());
    job->thread = std::thread([raw, guard, work = std::move(work)] {
        work(raw->cancelled);
        guard->reset();
        raw->exited = true;
    });
    jobs_.emplace(id, std::move(job));
    return id;
}

void NativePlatform::cancelJob(JobId id) {
    auto it = jobs_.find(id);
    if (it == jobs_.end() || it->second->cancelled) return;
    it->second->cancelled = true;
    if (it->second->stop) it->second->stop();
}

void NativePlatform::reapJobs() {
    for (auto it = jobs_.begin(); it != jobs_.end();) {
        if (it->second->exited) {
            it->second->thread.join();
            it = jobs_.erase(it);
        } else {
            ++it;
        }
    }
}

RequestId NativePlatform::httpRequest(const std::string& method, const std::string& url, const std::string& body,
                                      const std::string& bearer, int timeoutMs,
                                      Callback<void(const HttpResponse&)> done) {
    const RequestId id = nextId_++;
    auto callback = std::make_shared<Callback<void(const HttpResponse&)>>(std::move(done));
    auto finish = [this, id, callback](HttpResponse response) {
        auto it = requests_.find(id);
        if (it == requests_.end()) return;  // aborted
        requests_.erase(it);
        (*callback)(response);
    };
    const SplitUrl split = splitHttpUrl(url);
    if (split.origin.empty()) {
        // Never inside the call that asked.
        requests_.emplace(id, 0);
        post([finish] { finish(HttpResponse{0, "not an http:// or https:// URL"}); });
        return id;
    }
    auto http = httpClient(split.origin);
    http->set_keep_alive(false);
    http->set_connection_timeout(std::chrono::seconds(5));
    const int readMs = timeoutMs > 0 ? timeoutMs : 300000;
    http->set_read_timeout(std::chrono::milliseconds(readMs));
    http->set_write_timeout(std::chrono::seconds(10));
    httplib::Headers headers;
    if (!bearer.empty()) headers.emplace("Authorization", "Bearer " + bearer);
    const JobId job = startJob(
        [this, http, method, target = split.target, body, headers, finish](const std::atomic<bool>& cancelled) {
            if (cancelled) return;
            httplib::Result result = method == "GET" ? http->Get(target.c_str(), headers)
                                                     : http->Post(target.c_str(), headers, body, "application/json");
            if (cancelled) return;
            HttpResponse response;
            if (result) {
                response.status = result->status;
                response.body = std::move(result->body);
            } else {
                response.body = describeHttpError(result.error());  // status 0: why
            }
            post([finish, response = std::move(response)] { finish(response); });
        },
        [http] { http->stop(); });
    requests_.emplace(id, job);
    return id;
}

void NativePlatform::abortRequest(RequestId id) {
    auto it = requests_.find(id);
    if (it == requests_.end()) return;
    if (it->second) cancelJob(it->second);
    requests_.erase(it);
}

double NativePlatform::random01() { return std::uniform_real_distribution<double>(0.0, 1.0)(random_); }

std::string NativePlatform::randomHex(int chars) {
    // The session secret: from the system's random device, not the seeded generator.
    std::random_device device;
    std::string out;
    for (int i = 0; i < chars; ++i) out += "0123456789abcdef"[device() & 15];
    return out;
}

WebSocketEndpoint& NativePlatform::websocket() {
    if (!websocket_) websocket_ = std::make_unique<WebSocketEndpoint>(io_);
    return *websocket_;
}

TlsWebSocketEndpoint& NativePlatform::secureWebSocket() {
    if (!secureWebSocket_) secureWebSocket_ = std::make_unique<TlsWebSocketEndpoint>(io_, caFile_);
    return *secureWebSocket_;
}

}  // namespace pushwire::client
