// What every transport needs: the hub, the metrics, the settings and the loop.
// One instance per server, owned by Server, used on the loop thread only.
#pragma once

#include <array>
#include <asio/io_context.hpp>
#include <chrono>
#include <string>

#include "auth/access_policy.hpp"
#include "auth/rate_limiter.hpp"
#include "hub/hub.hpp"
#include "transports/metrics.hpp"
#include "transports/presence_tracker.hpp"
#include "transports/session_registry.hpp"

namespace pushwire::server {

struct Settings {
    std::array<bool, kTransportCount> enabled{true, true, true, true};
    std::chrono::milliseconds heartbeat{10000};
    std::chrono::milliseconds longPollTimeout{25000};
    std::chrono::milliseconds longPollMaxTimeout{120000};
    std::size_t maxMessageBytes = 64 * 1024;
    std::size_t maxQueuedBytes = 4 * 1024 * 1024;
    std::size_t maxChannelsPerRequest = 256;
    std::size_t maxChannelsPerConnection = 1024;  // WebSocket: over all its subscribes
    std::size_t maxBatch = 1000;                  // messages per poll/long-poll answer
    std::size_t maxBatchBytes = 1024 * 1024;      // and their bytes (at least one message)
    // A feed replays while its connection holds less than this, and a live reader with
    // more than kFeedOverfullBytes queued drops back to replaying.
    std::size_t feedRoomBytes = 64 * 1024;
    std::size_t feedOverfullBytes = 1024 * 1024;

    bool isEnabled(TransportKind kind) const { return enabled[static_cast<std::size_t>(kind)]; }
};

struct Context {
    asio::io_context& io;
    Hub& hub;
    Metrics& metrics;
    Settings settings;
    const AccessPolicy& access;
    RateLimiter& publishRate;
    SessionRegistry& sessions;            // by user, for the server API
    PresenceTracker* presence = nullptr;  // null: no presence at all (tests)

    std::int64_t nowMs() const {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    }
};

}  // namespace pushwire::server
