// pushwire::Client on top of ClientCore, the browser platform and the transport table.
// Natively (client-native/) only what follows the browser's constructors is built; the
// native constructors are client-native/src/native_client.cpp.
#include "pushwire/client.hpp"

#include <algorithm>
#include <vector>

#include "core/client_core.hpp"
#include "core/platform.hpp"

#ifdef __EMSCRIPTEN__
#include <emscripten.h>

#include "browser/browser_platform.hpp"
#include "transports/registry.hpp"
#endif

namespace pushwire {
#ifdef __EMSCRIPTEN__
namespace {

// Live cores, for page hints (online again, page visible again). A page has a few.
std::vector<client::ClientCore*>& liveCores() {
    static std::vector<client::ClientCore*> cores;
    return cores;
}

bool isLive(client::ClientCore* core) {
    const auto& cores = liveCores();
    return std::find(cores.begin(), cores.end(), core) != cores.end();
}

}  // namespace
#endif

void Subscription::unsubscribe() {
    if (core_ && coreAlive_.alive()) core_->unsubscribe(id_);
    core_ = nullptr;
}

bool Subscription::active() const { return core_ && coreAlive_.alive() && id_ != 0; }

std::string Subscription::position() const {
    return core_ && coreAlive_.alive() ? core_->position(id_) : std::string();
}

void Subscription::presence(PresenceCallback done) const {
    if (!core_ || !coreAlive_.alive()) {
        Error error{"closed", "the subscription has ended"};
        done(nullptr, &error);
        return;
    }
    core_->presence(id_, false, [done](const protocol::PresenceAnswer* answer, const Error* error) {
        if (!answer) {
            done(nullptr, error);
            return;
        }
        std::vector<Member> members;
        members.reserve(answer->members.size());
        for (const auto& m : answer->members) members.push_back(Member{m.client, m.user, m.infoJson});
        done(&members, nullptr);
    });
}

void Subscription::presenceStats(PresenceStatsCallback done) const {
    if (!core_ || !coreAlive_.alive()) {
        Error error{"closed", "the subscription has ended"};
        done(std::nullopt, &error);
        return;
    }
    core_->presence(id_, true, [done](const protocol::PresenceAnswer* answer, const Error* error) {
        if (!answer) {
            done(std::nullopt, error);
            return;
        }
        done(PresenceStats{answer->clients, answer->users}, nullptr);
    });
}

#ifdef __EMSCRIPTEN__
Client::Client(const std::string& url, ClientOptions options) : Client(std::vector<std::string>{url}, options) {}

Client::Client(const std::vector<std::string>& urls, ClientOptions options)
    : core_(std::make_unique<client::ClientCore>(client::BrowserPlatform::instance(), client::defaultTransports(), urls,
                                                 options)) {
    liveCores().push_back(core_.get());
    core_->start();
}

Client::~Client() {
    auto& cores = liveCores();
    if (auto it = std::find(cores.begin(), cores.end(), core_.get()); it != cores.end()) cores.erase(it);
    core_->close();
}
#endif

Subscription Client::subscribe(const std::string& channel, MessageHandler onMessage, SubscribeOptions options) {
    Subscription subscription;
    subscription.channel_ = channel;
    Error error;
    ErrorHandler onError = options.onError;
    int id = core_->subscribe(channel, std::move(onMessage), std::move(options), &error);
    if (id == 0 || !error.code.empty()) {
        if (onError) onError(error);  // refused, or `since` not understood (read from now)
        if (id == 0) return subscription;
    }
    subscription.core_ = core_.get();
    subscription.coreAlive_ = core_->liveness();
    subscription.id_ = id;
    return subscription;
}

void Client::publish(const std::string& channel, const std::string& dataJson, PublishCallback done) {
    if (!done) done = [](std::optional<std::uint64_t>, const Error*) {};
    core_->publish(channel, dataJson, std::move(done));
}

void Client::onStateChange(StateHandler handler) { core_->onStateChange(std::move(handler)); }
void Client::onServerSubscribe(ChannelHandler handler) { core_->onServerSubscribe(std::move(handler)); }
void Client::onServerUnsubscribe(ChannelHandler handler) { core_->onServerUnsubscribe(std::move(handler)); }
void Client::onMessage(MessageHandler handler) { core_->onServerMessage(std::move(handler)); }
State Client::state() const { return core_->state(); }
std::string Client::stateReason() const { return core_->stateReason(); }
Transport Client::transport() const { return core_->transport(); }
std::string Client::server() const { return core_->server(); }
std::string Client::id() const { return core_->clientId(); }
void Client::close() { core_->close(); }

}  // namespace pushwire

#ifdef __EMSCRIPTEN__
extern "C" EMSCRIPTEN_KEEPALIVE void pw_page_hint() {
    const auto cores = pushwire::liveCores();  // a hint may close a client
    for (auto* core : cores) {
        if (pushwire::isLive(core)) core->reconnectNowHint();
    }
}
#endif
