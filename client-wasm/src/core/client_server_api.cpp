// ClientCore: what the backend's server API does to this client (docs/api.md): a
// disconnect (stop, or reconnect and resume), a channel subscribed from the server side
// (read from then on and resumed like the application's own) and a channel taken away
// (its subscriptions end and it is never asked for again). The transports turn their
// own signals (WebSocket frames and close codes, SSE events, poll answers and 409s) into
// these three calls, so every transport has the same outcome.
#include "core/client_core.hpp"
#include "pushwire/protocol/channel_name.hpp"

namespace pushwire::client {

void ClientCore::transportServerSubscribed(int generation, const std::vector<std::string>& channels) {
    if (!isCurrent(generation)) return;
    std::vector<std::string> added;
    for (const std::string& channel : channels) {
        if (protocol::channelNameProblem(channel)) continue;
        // Read from now: the cursor that follows gives the position (unless a message
        // comes first, which then does).
        ChannelState& state = channels_[channel];
        if (state.byServer) continue;
        state.byServer = true;
        added.push_back(channel);
    }
    for (const std::string& channel : added) {
        if (closed_) return;
        if (debug_) debug_("the server subscribed this client to " + channel);
        if (serverSubscribed_) serverSubscribed_(channel);
    }
}

void ClientCore::transportServerUnsubscribed(int generation, const std::vector<std::string>& channels) {
    if (!isCurrent(generation)) return;
    for (const std::string& channel : channels) {
        if (closed_) return;
        if (!channels_.count(channel)) continue;  // told before (a poller hears it in every answer)
        // The server stopped it already: nothing to ask of the transport, and the channel
        // is forgotten, so that no reconnect asks for it again.
        for (auto& [id, sub] : dropChannel(channel)) {
            if (closed_) return;
            if (ended_) ended_(id, "unsubscribed by the server");
        }
        if (closed_) return;
        if (debug_) debug_("the server unsubscribed this client from " + channel);
        if (serverUnsubscribed_) serverUnsubscribed_(channel);
    }
}

void ClientCore::transportDisconnected(int generation, bool reconnect) {
    if (isProbe(generation)) {
        probeFailed();  // a transport tried in the background: the current one hears it too
        return;
    }
    if (!isCurrent(generation)) return;
    dropTransport();
    if (reconnect) {
        // Back with the positions, as after any cut (the backoff keeps a server that says
        // this again and again from being asked in a tight loop).
        scheduleReconnect("disconnected by server; reconnecting");
    } else {
        stop("disconnected by server");
    }
}

std::vector<std::pair<int, ClientCore::SubscriptionEntry>> ClientCore::dropChannel(const std::string& channel) {
    std::vector<std::pair<int, SubscriptionEntry>> ended;
    auto state = channels_.find(channel);
    if (state == channels_.end()) return ended;
    for (int id : state->second.subscriptions) {
        auto sub = subscriptions_.find(id);
        if (sub == subscriptions_.end()) continue;
        ended.emplace_back(id, std::move(sub->second));
        subscriptions_.erase(sub);
    }
    auto held = std::move(state->second.held);
    stopPresence(state->second.presence);
    channels_.erase(state);
    // Publishing may still be allowed where reading is not: they go (and get their own answer).
    for (HeldPublish& entry : held) sendPublish(std::move(entry.publish));
    return ended;
}

}  // namespace pushwire::client
