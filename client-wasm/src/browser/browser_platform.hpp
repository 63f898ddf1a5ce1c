// Platform for the browser: setTimeout timers and XMLHttpRequest, through the small JS
// glue in browser/glue.js. One instance per module, used on the main thread.
#pragma once

#include <map>

#include "core/platform.hpp"

namespace pushwire::client {

class BrowserPlatform final : public Platform {
public:
    static BrowserPlatform& instance();

    std::int64_t nowMs() override;
    std::int64_t monotonicMs() override;
    TimerId setTimer(int delayMs, Callback<void()> callback) override;
    void cancelTimer(TimerId id) override;
    RequestId httpRequest(const std::string& method, const std::string& url, const std::string& body,
                          const std::string& bearer, int timeoutMs, Callback<void(const HttpResponse&)> done) override;
    void abortRequest(RequestId id) override;
    double random01() override;
    std::string randomHex(int chars) override;

    // Entry points from JS.
    void timerFired(TimerId id);
    void requestDone(RequestId id, int status, const char* body);

private:
    struct Timer {
        int jsId = 0;
        Callback<void()> callback;
    };
    std::map<TimerId, Timer> timers_;
    std::map<RequestId, Callback<void(const HttpResponse&)>> requests_;
    int nextId_ = 1;
};

}  // namespace pushwire::client
