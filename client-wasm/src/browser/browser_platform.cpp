#include "browser/browser_platform.hpp"

#include <emscripten.h>

// Defined in glue.js (pre-js): XMLHttpRequest with an id, answered via pw_xhr_done.
EM_JS(void, pw_xhr_start,
      (int id, const char* method, const char* url, const char* body, const char* bearer, int timeoutMs), {
          pwXhrStart(id, UTF8ToString(method), UTF8ToString(url), UTF8ToString(body), UTF8ToString(bearer), timeoutMs);
      });
EM_JS(void, pw_xhr_abort, (int id), { pwXhrAbort(id); });
EM_JS(double, pw_date_now, (), { return Date.now(); });
EM_JS(double, pw_performance_now, (), { return performance.now(); });
// Timers by our own id, fired through pw_timer_fired (emscripten_set_timeout brought its
// runtime's callback wrappers into the JS).
EM_JS(int, pw_set_timeout, (int id, int delayMs), {
    return setTimeout(
        function() { _pw_timer_fired(id); }, delayMs);
});
EM_JS(void, pw_clear_timeout, (int jsId), { clearTimeout(jsId); });
// `chars` hex digits from crypto.getRandomValues into `out` (the session secret).
EM_JS(void, pw_random_hex, (char* out, int chars), {
    var bytes = new Uint8Array(chars);
    crypto.getRandomValues(bytes);
    for (var i = 0; i < chars; i++) HEAPU8[out + i] = '0123456789abcdef'.charCodeAt(bytes[i] & 15);
});

namespace pushwire::client {

BrowserPlatform& BrowserPlatform::instance() {
    static BrowserPlatform platform;
    return platform;
}

std::int64_t BrowserPlatform::nowMs() { return static_cast<std::int64_t>(pw_date_now()); }
std::int64_t BrowserPlatform::monotonicMs() { return static_cast<std::int64_t>(pw_performance_now()); }

double BrowserPlatform::random01() { return emscripten_random(); }

std::string BrowserPlatform::randomHex(int chars) {
    std::string out(static_cast<std::size_t>(chars), '0');
    pw_random_hex(out.data(), chars);
    return out;
}

TimerId BrowserPlatform::setTimer(int delayMs, Callback<void()> callback) {
    TimerId id = nextId_++;
    timers_.emplace(id, Timer{pw_set_timeout(id, delayMs), std::move(callback)});
    return id;
}

void BrowserPlatform::cancelTimer(TimerId id) {
    auto it = timers_.find(id);
    if (it == timers_.end()) return;
    pw_clear_timeout(it->second.jsId);
    timers_.erase(it);
}

void BrowserPlatform::timerFired(TimerId id) {
    auto it = timers_.find(id);
    if (it == timers_.end()) return;
    auto callback = std::move(it->second.callback);
    timers_.erase(it);
    callback();
}

RequestId BrowserPlatform::httpRequest(const std::string& method, const std::string& url, const std::string& body,
                                       const std::string& bearer, int timeoutMs,
                                       Callback<void(const HttpResponse&)> done) {
    RequestId id = nextId_++;
    requests_.emplace(id, std::move(done));
    pw_xhr_start(id, method.c_str(), url.c_str(), body.c_str(), bearer.c_str(), timeoutMs);
    return id;
}

void BrowserPlatform::abortRequest(RequestId id) {
    if (requests_.erase(id)) pw_xhr_abort(id);
}

void BrowserPlatform::requestDone(RequestId id, int status, const char* body) {
    auto it = requests_.find(id);
    if (it == requests_.end()) return;
    auto done = std::move(it->second);
    requests_.erase(it);
    done(HttpResponse{status, body ? body : ""});
}

}  // namespace pushwire::client

extern "C" EMSCRIPTEN_KEEPALIVE void pw_timer_fired(int id) {
    pushwire::client::BrowserPlatform::instance().timerFired(id);
}

extern "C" EMSCRIPTEN_KEEPALIVE void pw_xhr_done(int id, int status, const char* body) {
    pushwire::client::BrowserPlatform::instance().requestDone(id, status, body);
}
