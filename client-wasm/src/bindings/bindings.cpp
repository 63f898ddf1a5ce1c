// The embind surface behind the JS API. Only this file holds EMSCRIPTEN_BINDINGS; the
// page-facing class (PushWire.Client: Promises, JS values, no .delete()) is api.js.
#include <emscripten/bind.h>
#include <emscripten/val.h>

#include <charconv>
#include <string_view>

#include "pushwire/client.hpp"

namespace {

using emscripten::val;

// `name=value` lines from api.js (which checked names and types): no JSON parser in the
// module for this, which keeps a JSON DOM (and its float formatting) out of the wasm.
pushwire::ClientOptions parseOptions(const std::string& text) {
    pushwire::ClientOptions options;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        const std::string_view line(text.data() + start, end - start);
        start = end + 1;
        const std::size_t equals = line.find('=');
        if (equals == std::string_view::npos) continue;
        const std::string_view name = line.substr(0, equals);
        const std::string_view value = line.substr(equals + 1);
        if (name == "transport") {
            options.transport = pushwire::transportFromString(std::string(value)).value_or(pushwire::Transport::Auto);
            continue;
        }
        int number = 0;
        auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
        if (ec != std::errc() || ptr != value.data() + value.size()) continue;
        if (name == "pollIntervalMs") options.pollIntervalMs = number;
        else if (name == "reconnectInitialMs") options.reconnectInitialMs = number;
        else if (name == "reconnectMaxMs") options.reconnectMaxMs = number;
        else if (name == "connectTimeoutMs") options.connectTimeoutMs = number;
        else if (name == "upgradeIntervalMs") options.upgradeIntervalMs = number;
    }
    return options;
}

std::vector<std::string> splitLines(const std::string& text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        if (end > start) out.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

pushwire::ClientOptions withTokens(pushwire::ClientOptions options, std::function<void(pushwire::TokenCallback)> get) {
    options.getToken = std::move(get);
    return options;
}

class NativeClient {
public:
    // `urls`: one or more server URLs, one per line. `tokenRequester`: a JS function
    // (id) that calls tokenReady(id, token) when the page's getToken settles; undefined
    // without getToken.
    NativeClient(const std::string& urls, const std::string& optionsText, val tokenRequester)
        : tokenRequester_(tokenRequester),
          client_(splitLines(urls), tokenRequester.isUndefined() || tokenRequester.isNull()
                                        ? parseOptions(optionsText)
                                        : withTokens(parseOptions(optionsText), [this](pushwire::TokenCallback done) {
                                              const int id = nextToken_++;
                                              tokenWaiters_[id] = std::move(done);
                                              tokenRequester_(id);
                                          })) {}

    void tokenReady(int id, const std::string& token) {
        auto it = tokenWaiters_.find(id);
        if (it == tokenWaiters_.end()) return;
        auto done = std::move(it->second);
        tokenWaiters_.erase(it);
        done(token);
    }

    // 0 when refused at once (lastErrorCode/lastError say why: bad_channel, bad_cursor).
    int subscribe(const std::string& channel, const std::string& since, val onMessage, val onGap, val onError) {
        pushwire::SubscribeOptions options;
        options.since = since;
        options.onGap = [onGap](const pushwire::Gap& gap) {
            onGap(gap.channel, static_cast<double>(gap.from), gap.to ? static_cast<double>(*gap.to) : -1.0, gap.reason);
        };
        subscribing_ = true;
        options.onError = [this, onError](const pushwire::Error& error) {
            if (subscribing_) {
                lastErrorCode_ = error.code;
                lastError_ = error.message;
                return;
            }
            onError(error.code, error.message);
        };
        lastError_.clear();
        lastErrorCode_ = "bad_channel";
        auto subscription = client_.subscribe(
            channel,
            [onMessage](const pushwire::Message& m) {
                onMessage(m.channel, static_cast<double>(m.seq), m.data, static_cast<double>(m.time));
            },
            options);
        subscribing_ = false;
        if (!subscription.active()) {
            if (lastError_.empty()) lastError_ = "invalid channel name";
            return 0;
        }
        int id = nextId_++;
        subscriptions_.emplace(id, subscription);
        return id;
    }

    std::string position(int id) const {
        auto it = subscriptions_.find(id);
        return it == subscriptions_.end() ? std::string() : it->second.position();
    }
    void unsubscribe(int id) {
        auto it = subscriptions_.find(id);
        if (it == subscriptions_.end()) return;
        it->second.unsubscribe();
        subscriptions_.erase(it);
    }

    void publish(const std::string& channel, const std::string& dataJson, val done) {
        client_.publish(channel, dataJson, [done](std::optional<std::uint64_t> seq, const pushwire::Error* error) {
            if (seq) {
                done(true, static_cast<double>(*seq), std::string(), std::string());
            } else {
                done(false, 0.0, error ? error->code : std::string("internal"),
                     error ? error->message : std::string("publish failed"));
            }
        });
    }

    void setStateListener(val listener) {
        client_.onStateChange([listener](pushwire::State state, const std::string& reason) {
            listener(std::string(pushwire::toString(state)), reason);
        });
    }

    std::string state() const { return pushwire::toString(client_.state()); }
    std::string stateReason() const { return client_.stateReason(); }
    std::string transport() const { return pushwire::toString(client_.transport()); }
    std::string server() const { return client_.server(); }
    std::string lastError() const { return lastError_; }
    std::string lastErrorCode() const { return lastErrorCode_; }
    void close() { client_.close(); }

private:
    val tokenRequester_;
    std::map<int, pushwire::TokenCallback> tokenWaiters_;
    int nextToken_ = 1;
    pushwire::Client client_;
    std::map<int, pushwire::Subscription> subscriptions_;
    int nextId_ = 1;
    std::string lastError_;
    std::string lastErrorCode_;
    bool subscribing_ = false;
};

}  // namespace

EMSCRIPTEN_BINDINGS(pushwire) {
    emscripten::class_<NativeClient>("NativeClient")
        .constructor<std::string, std::string, val>()
        .function("tokenReady", &NativeClient::tokenReady)
        .function("subscribe", &NativeClient::subscribe)
        .function("unsubscribe", &NativeClient::unsubscribe)
        .function("publish", &NativeClient::publish)
        .function("setStateListener", &NativeClient::setStateListener)
        .function("state", &NativeClient::state)
        .function("stateReason", &NativeClient::stateReason)
        .function("transport", &NativeClient::transport)
        .function("server", &NativeClient::server)
        .function("lastError", &NativeClient::lastError)
        .function("lastErrorCode", &NativeClient::lastErrorCode)
        .function("position", &NativeClient::position)
        .function("close", &NativeClient::close);
}
