// The C surface behind the JS API: plain exported functions and a few EM_JS calls back
// into api.js, instead of embind, whose runtime was a third of the module. A JS client
// is a handle chosen by api.js; subscriptions and publishes are ids within it. Strings
// cross as UTF-8 pointers valid for the call; a string returned is valid until the next
// call that returns one. The page-facing class (PushWire.Client: Promises, JS values)
// is api.js.
#include <emscripten.h>

#include <map>
#include <memory>
#include <string_view>

#include "browser/browser_platform.hpp"
#include "core/client_core.hpp"
#include "transports/registry.hpp"

// Defined in api.js (post-js): each reaches the JS client registered under `client`.
EM_JS(void, pw_js_token, (int client, int id), { pwNative(client).token(id); });
EM_JS(void, pw_js_state, (int client, const char* state, const char* reason),
      { pwNative(client).state(UTF8ToString(state), UTF8ToString(reason)); });
// A message's data is a JS value already: its slot in glue.js (see core/wire.hpp).
EM_JS(void, pw_js_message, (int client, int sub, double seq, int slot, double time),
      { pwNative(client).message(sub, seq, pwTake(slot), time); });
EM_JS(void, pw_js_gap, (int client, int sub, const char* channel, double from, double to, const char* reason),
      { pwNative(client).gap(sub, UTF8ToString(channel), from, to, UTF8ToString(reason)); });
// `ended`: the subscription ended with this error (a refused channel).
EM_JS(void, pw_js_error, (int client, int sub, const char* code, const char* message, int ended),
      { pwNative(client).error(sub, UTF8ToString(code), UTF8ToString(message), ended); });
EM_JS(void, pw_js_subscribed, (int client, int sub), { pwNative(client).subscribed(sub); });
EM_JS(void, pw_js_debug, (int client, const char* line), { pwNative(client).debug(UTF8ToString(line)); });
// A member joined or left (`info` is JSON text); and a presence query's answer: `members`
// a JSON array of members, or the numbers, or the error.
EM_JS(void, pw_js_member, (int client, int sub, int joined, const char* id, const char* user, const char* info),
      { pwNative(client).member(sub, joined, UTF8ToString(id), UTF8ToString(user), UTF8ToString(info)); });
EM_JS(void, pw_js_presence,
      (int client, int id, int ok, const char* members, double clients, double users, const char* code,
       const char* message),
      {
          pwNative(client).presence(id, ok, UTF8ToString(members), clients, users, UTF8ToString(code),
                                    UTF8ToString(message));
      });
// The backend's server API: `what` 1 subscribed this client to channel `text`, 2
// unsubscribed it from `text`, 3 ended subscription `sub` (`text` why); and a message of
// a channel it subscribed this client to.
EM_JS(void, pw_js_server, (int client, int what, int sub, const char* text),
      { pwNative(client).server(what, sub, UTF8ToString(text)); });
EM_JS(void, pw_js_server_message, (int client, const char* channel, double seq, int slot, double time),
      { pwNative(client).serverMessage(UTF8ToString(channel), seq, pwTake(slot), time); });
EM_JS(void, pw_js_published, (int client, int id, int ok, double seq, const char* code, const char* message),
      { pwNative(client).published(id, ok, seq, UTF8ToString(code), UTF8ToString(message)); });

namespace {

std::vector<std::string> splitLines(std::string_view text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string_view::npos) end = text.size();
        if (end > start) out.emplace_back(text.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

// A message's data slot in glue.js: its decimal digits (wire_js.cpp).
int slotOf(const pushwire::Message& m) {
    int slot = 0;
    for (char digit : m.data) slot = slot * 10 + (digit - '0');
    return slot;
}

pushwire::MemberHandler memberHandler(int handle, int sub, bool joined) {
    return [handle, sub, joined](const pushwire::Member& m) {
        pw_js_member(handle, sub, joined ? 1 : 0, m.client.c_str(), m.user.c_str(), m.info.c_str());
    };
}

// One JS client: a client core on the browser platform, talked to directly (the C++ API's
// Client and Subscription would be a second layer of ids and handlers here).
class NativeClient {
public:
    // `urls`: one or more server URLs, one per line. `withToken`: the page gave getToken;
    // the core asks for a token with pw_js_token and gets it through tokenReady.
    NativeClient(int handle, std::string_view urls, pushwire::ClientOptions options, bool withToken, bool debug)
        : handle_(handle),
          core_(pushwire::client::BrowserPlatform::instance(), pushwire::client::defaultTransports(), splitLines(urls),
                withTokens(std::move(options), withToken)) {
        core_.onStateChange([handle](pushwire::State state, const std::string& reason) {
            pw_js_state(handle, pushwire::toString(state), reason.c_str());
        });
        core_.onSubscribed([handle](int sub) { pw_js_subscribed(handle, sub); });
        core_.onServerSubscribe([handle](const std::string& channel) { pw_js_server(handle, 1, 0, channel.c_str()); });
        core_.onServerUnsubscribe(
            [handle](const std::string& channel) { pw_js_server(handle, 2, 0, channel.c_str()); });
        core_.onEnded([handle](int sub, const std::string& reason) { pw_js_server(handle, 3, sub, reason.c_str()); });
        core_.onServerMessage([handle](const pushwire::Message& m) {
            pw_js_server_message(handle, m.channel.c_str(), static_cast<double>(m.seq), slotOf(m),
                                 static_cast<double>(m.time));
        });
        if (debug) core_.onDebug([handle](const std::string& line) { pw_js_debug(handle, line.c_str()); });
        core_.start();
    }
    ~NativeClient() { core_.close(); }

    void tokenReady(int id, const char* token) {
        auto it = tokenWaiters_.find(id);
        if (it == tokenWaiters_.end()) return;
        auto done = std::move(it->second);
        tokenWaiters_.erase(it);
        done(token);
    }

    // The subscription's id, or 0 when refused at once (lastErrorCode/lastError say why:
    // bad_channel); bad_cursor there with an id: `since` not understood, read from now.
    // `watch`: the page gave onJoin or onLeave.
    int subscribe(const char* channel, const char* since, bool watch) {
        const int id = core_.nextSubscriptionId();
        const int handle = handle_;
        // Built in place (assigning a handler to a std::function swaps, and the swap was
        // 0.3 KB of the module).
        pushwire::SubscribeOptions options{
            since,
            [handle, id](const pushwire::Gap& gap) {
                pw_js_gap(handle, id, gap.channel.c_str(), static_cast<double>(gap.from),
                          gap.to ? static_cast<double>(*gap.to) : -1.0, gap.reason.c_str());
            },
            [this, id](const pushwire::Error& error) {
                pw_js_error(handle_, id, error.code.c_str(), error.message.c_str(), !core_.hasSubscription(id));
            },
            watch ? memberHandler(handle, id, true) : pushwire::MemberHandler(),
            watch ? memberHandler(handle, id, false) : pushwire::MemberHandler()};
        pushwire::Error error;
        const int subscribed = core_.subscribe(
            channel,
            [handle, id](const pushwire::Message& m) {
                pw_js_message(handle, id, static_cast<double>(m.seq), slotOf(m), static_cast<double>(m.time));
            },
            std::move(options), &error);
        lastErrorCode_ = error.code;
        lastError_ = error.message;
        return subscribed;
    }

    void unsubscribe(int id) { core_.unsubscribe(id); }

    // The answer goes to pw_js_presence under `request`.
    void presence(int sub, bool statsOnly, int request) {
        const int handle = handle_;
        core_.presence(
            sub, statsOnly,
            [handle, request](const pushwire::protocol::PresenceAnswer* answer, const pushwire::Error* error) {
                if (!answer) {
                    pw_js_presence(handle, request, 0, "", 0, 0, error ? error->code.c_str() : "internal",
                                   error ? error->message.c_str() : "presence failed");
                    return;
                }
                std::string members = "[";
                for (const auto& m : answer->members) {
                    if (members.size() > 1) members += ',';
                    members += pushwire::protocol::encodeMember(m);
                }
                members += ']';
                pw_js_presence(handle, request, 1, members.c_str(), static_cast<double>(answer->clients),
                               static_cast<double>(answer->users), "", "");
            });
    }

    void publish(const char* channel, const char* dataJson, int id) {
        const int handle = handle_;
        core_.publish(channel, dataJson, [handle, id](std::optional<std::uint64_t> seq, const pushwire::Error* error) {
            if (seq) {
                pw_js_published(handle, id, 1, static_cast<double>(*seq), "", "");
            } else {
                pw_js_published(handle, id, 0, 0.0, error ? error->code.c_str() : "internal",
                                error ? error->message.c_str() : "publish failed");
            }
        });
    }

    // What api.js reads: 0 state, 1 its reason, 2 transport, 3 server, 4 last error,
    // 5 its code, 6 the position of subscription `sub`, 7 the token in hand (unexpired),
    // 8 the client's id.
    std::string get(int what, int sub) const {
        switch (what) {
            case 0: return pushwire::toString(core_.state());
            case 1: return core_.stateReason();
            case 2: return pushwire::toString(core_.transport());
            case 3: return core_.server();
            case 4: return lastError_;
            case 5: return lastErrorCode_;
            case 6: return core_.position(sub);
            case 7: return core_.currentToken();
            case 8: return core_.clientId();
            default: return {};
        }
    }

    void close() { core_.close(); }
    void connect(bool on) { on ? core_.connect() : core_.disconnect(); }
    void pageHint() { core_.reconnectNowHint(); }

private:
    pushwire::ClientOptions withTokens(pushwire::ClientOptions out, bool withToken) {
        if (withToken) {
            out.getToken = [this](pushwire::TokenCallback done) {
                const int id = nextToken_++;
                tokenWaiters_.emplace(id, std::move(done));
                pw_js_token(handle_, id);
            };
        }
        return out;
    }

    int handle_;
    std::map<int, pushwire::TokenCallback> tokenWaiters_;
    int nextToken_ = 1;
    pushwire::client::ClientCore core_;
    std::string lastError_;
    std::string lastErrorCode_;
};

std::map<int, std::unique_ptr<NativeClient>>& natives() {
    static std::map<int, std::unique_ptr<NativeClient>> clients;
    return clients;
}

NativeClient* native(int handle) {
    auto it = natives().find(handle);
    return it == natives().end() ? nullptr : it->second.get();
}

}  // namespace

extern "C" {

// The options api.js checked: a transport name, and times in ms (-1: the default).
EMSCRIPTEN_KEEPALIVE void pw_new(int handle, const char* urls, const char* transport, int pollIntervalMs,
                                 int reconnectInitialMs, int reconnectMaxMs, int connectTimeoutMs,
                                 int upgradeIntervalMs, int withToken, int debug) {
    pushwire::ClientOptions options;
    options.transport = pushwire::transportFromString(transport).value_or(pushwire::Transport::Auto);
    const int given[] = {pollIntervalMs, reconnectInitialMs, reconnectMaxMs, connectTimeoutMs, upgradeIntervalMs};
    int* fields[] = {&options.pollIntervalMs, &options.reconnectInitialMs, &options.reconnectMaxMs,
                     &options.connectTimeoutMs, &options.upgradeIntervalMs};
    for (int i = 0; i < 5; ++i) {
        if (given[i] >= 0) *fields[i] = given[i];
    }
    natives().emplace(handle,
                      std::make_unique<NativeClient>(handle, urls, std::move(options), withToken != 0, debug != 0));
}

EMSCRIPTEN_KEEPALIVE void pw_delete(int handle) { natives().erase(handle); }

EMSCRIPTEN_KEEPALIVE void pw_token_ready(int handle, int id, const char* token) {
    if (NativeClient* client = native(handle)) client->tokenReady(id, token);
}

EMSCRIPTEN_KEEPALIVE int pw_subscribe(int handle, const char* channel, const char* since, int watch) {
    NativeClient* client = native(handle);
    return client ? client->subscribe(channel, since, watch != 0) : 0;
}

EMSCRIPTEN_KEEPALIVE void pw_presence(int handle, int sub, int statsOnly, int request) {
    if (NativeClient* client = native(handle)) client->presence(sub, statsOnly != 0, request);
}

EMSCRIPTEN_KEEPALIVE void pw_unsubscribe(int handle, int sub) {
    if (NativeClient* client = native(handle)) client->unsubscribe(sub);
}

EMSCRIPTEN_KEEPALIVE void pw_publish(int handle, const char* channel, const char* dataJson, int id) {
    if (NativeClient* client = native(handle)) client->publish(channel, dataJson, id);
}

EMSCRIPTEN_KEEPALIVE const char* pw_get(int handle, int what, int sub) {
    static std::string out;
    NativeClient* client = native(handle);
    out = client ? client->get(what, sub) : std::string();
    return out.c_str();
}

EMSCRIPTEN_KEEPALIVE void pw_close(int handle) {
    if (NativeClient* client = native(handle)) client->close();
}

// 1: client.connect(), 0: client.disconnect().
EMSCRIPTEN_KEEPALIVE void pw_connect(int handle, int on) {
    if (NativeClient* client = native(handle)) client->connect(on != 0);
}

// The network is back, or the page visible again: a waiting reconnect happens now. (The
// C++ API's client.cpp has its own, for programs that use it instead of this file.)
EMSCRIPTEN_KEEPALIVE void pw_page_hint() {
    std::vector<int> handles;  // a hint may close a client
    for (auto& entry : natives()) handles.push_back(entry.first);
    for (int handle : handles) {
        if (NativeClient* client = native(handle)) client->pageHint();
    }
}

}  // extern "C"
