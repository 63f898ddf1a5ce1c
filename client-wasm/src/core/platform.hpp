// What the client core needs from its surroundings: time, timers, HTTP requests and
// randomness. The browser build implements it with setTimeout and XMLHttpRequest; unit
// tests implement it with a fake clock and scripted responses.
//
// Threading: single-threaded (the browser main thread). Callbacks never run inside the
// call that registered them.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "core/callback.hpp"

namespace pushwire::client {

using TimerId = int;
using RequestId = int;

struct HttpResponse {
    int status = 0;    // 0: network error, aborted or timed out
    std::string body;  // with status 0: empty, or why, for a person (the native platform says)
};

class Platform {
public:
    virtual ~Platform() = default;
    virtual std::int64_t nowMs() = 0;
    // A clock that only moves forward, for intervals (nowMs() is the wall clock, which the
    // system may set back or forward).
    virtual std::int64_t monotonicMs() { return nowMs(); }
    virtual TimerId setTimer(int delayMs, Callback<void()> callback) = 0;
    virtual void cancelTimer(TimerId id) = 0;
    // timeoutMs 0: no timeout of its own. `bearer`: sent as Authorization: Bearer (none
    // when empty).
    virtual RequestId httpRequest(const std::string& method, const std::string& url, const std::string& body,
                                  const std::string& bearer, int timeoutMs,
                                  Callback<void(const HttpResponse&)> done) = 0;
    virtual void abortRequest(RequestId id) = 0;
    virtual double random01() = 0;
    // `chars` lowercase hex digits from a source fit for secrets where the platform has one
    // (the browser's crypto.getRandomValues); here, from random01().
    virtual std::string randomHex(int chars) {
        std::string out;
        for (int i = 0; i < chars; ++i) out += "0123456789abcdef"[static_cast<int>(random01() * 16) & 15];
        return out;
    }
    // Values kept for the life of the page (the transport that worked, per server).
    std::map<std::string, std::string>& pageMemory() { return pageMemory_; }

private:
    std::map<std::string, std::string> pageMemory_;
};

}  // namespace pushwire::client
