// pushwire's C++ client API, for C++ programs compiled with Emscripten (the browser JS
// API, PushWire.Client, is a binding of this class) and, natively, for Linux programs
// (client-native/, docs/cpp.md): there the client runs on an asio::io_context of the
// application's, and its callbacks run on the thread running it.
//
//   pushwire::Client client("http://127.0.0.1:8080");
//   auto sub = client.subscribe("chat", [](const pushwire::Message& m) { ... },
//                               {.onGap = [](const pushwire::Gap& g) { ... }});
//   client.publish("chat", R"({"text":"hi"})", [](auto seq, const pushwire::Error* e) {});
//
// Threading: the browser main thread; callbacks run there, never inside the call that
// registered them. A Client may be destroyed at any time, also from its callbacks'
// caller; a Subscription outliving its Client is harmless.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "pushwire/liveness.hpp"
#include "pushwire/types.hpp"

#ifndef __EMSCRIPTEN__
namespace asio {
class io_context;
}
#endif

namespace pushwire {

namespace client {
class ClientCore;
class Platform;
}  // namespace client

class Subscription {
public:
    Subscription() = default;
    void unsubscribe();
    bool active() const;
    const std::string& channel() const { return channel_; }
    // The position after the last message delivered (an opaque string to save and give
    // back as SubscribeOptions::since); empty until the first position is known.
    std::string position() const;
    // The channel's members now (a presence channel: the server's --presence), asked of
    // the server: in-band on a WebSocket, else by GET /pushwire/presence. Exactly one of
    // members and error is set (forbidden without the right to subscribe; closed,
    // unsubscribed).
    void presence(PresenceCallback done) const;
    // Its numbers: connections and distinct users (exact beyond --max-presence-members).
    void presenceStats(PresenceStatsCallback done) const;

private:
    friend class Client;
    client::ClientCore* core_ = nullptr;
    Liveness coreAlive_;  // the core's: ends when its Client goes
    int id_ = 0;
    std::string channel_;
};

class Client {
public:
    explicit Client(const std::string& url, ClientOptions options = {});
    // Several servers sharing channels (a Redis broker): on one that is unreachable, the
    // client moves to the next and resumes there from its positions, losing nothing.
    explicit Client(const std::vector<std::string>& urls, ClientOptions options = {});
#ifndef __EMSCRIPTEN__
    // Native: timers, sockets and callbacks on `io`, which the application runs (and which
    // outlives the Client); HTTP requests and SSE streams block worker threads of the
    // client's, whose results come back through `io`. http:// URLs.
    Client(asio::io_context& io, const std::string& url, ClientOptions options = {});
    Client(asio::io_context& io, const std::vector<std::string>& urls, ClientOptions options = {});
#endif
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // Delivers every message of `channel` published from now on, in seq order, exactly
    // once, across reconnects and transport changes; this client's own publishes to the
    // channel made after this call wait for the subscription's position, so they arrive.
    // An invalid channel name returns an inactive Subscription and calls options.onError.
    Subscription subscribe(const std::string& channel, MessageHandler onMessage, SubscribeOptions options = {});
    // `dataJson` is any JSON value, serialized. `done` gets the assigned seq or an error.
    void publish(const std::string& channel, const std::string& dataJson, PublishCallback done = {});
    void onStateChange(StateHandler handler);
    // The backend's server API (docs/api.md), one handler each: a channel it subscribed
    // this client to (read from then on, resumed across reconnects), the messages of such
    // channels, and a channel it took away (its Subscriptions end).
    void onServerSubscribe(ChannelHandler handler);
    void onServerUnsubscribe(ChannelHandler handler);
    void onMessage(MessageHandler handler);

    State state() const;
    std::string stateReason() const;
    Transport transport() const;  // Transport::Auto while none is connected
    std::string server() const;   // the URL in use now
    // This client's id as members show it (Member::client): the same across reconnects of
    // this Client; "" until the first connection said it.
    std::string id() const;
    void close();

private:
#ifndef __EMSCRIPTEN__
    std::unique_ptr<client::Platform> platform_;  // before core_: outlives it
#endif
    std::unique_ptr<client::ClientCore> core_;
};

}  // namespace pushwire
