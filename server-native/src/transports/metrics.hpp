// Counters the server exposes at /pushwire/metrics (Prometheus text format).
// Owned by the loop thread; plain integers, no atomics.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "pushwire/protocol/errors.hpp"
#include "pushwire/protocol/presence.hpp"

namespace pushwire::server {

enum class TransportKind { WebSocket, Sse, LongPoll, Poll };
constexpr std::size_t kTransportCount = 4;
constexpr std::array<TransportKind, kTransportCount> kAllTransports = {TransportKind::WebSocket, TransportKind::Sse,
                                                                       TransportKind::LongPoll, TransportKind::Poll};

// Names as in --transports and negotiate: websocket, sse, longpoll, poll.
const char* transportName(TransportKind kind);

// Limits that refused something (/pushwire/metrics: pushwire_limit_hits_total{limit=...}).
enum class Limit { ConnectionsPerIp, ChannelsPerConnection, PublishRate, Channels, HistoryBytes, ChannelTtl };
constexpr std::size_t kLimitCount = 6;
const char* limitName(Limit limit);

struct Metrics {
    std::array<std::int64_t, kTransportCount> connections{};  // open now
    std::array<std::uint64_t, kTransportCount> connectionsTotal{};
    std::array<std::uint64_t, kTransportCount> deliveries{};  // messages handed to a client
    std::uint64_t published = 0;
    std::uint64_t publishRejected = 0;
    std::uint64_t errors = 0;  // requests and frames answered with an error
    std::uint64_t gaps = 0;
    std::uint64_t unauthorized = 0;  // 401: no token where one is needed, or a bad one
    std::uint64_t forbidden = 0;     // 403: outside the caller's rights, or an origin not allowed
    std::uint64_t expired = 0;       // streams closed at their token's exp
    std::array<std::uint64_t, kLimitCount> limitHits{};
    std::uint64_t joinsSent = 0;  // join entries handed to clients
    std::uint64_t leavesSent = 0;

    void refused(protocol::ErrorCode code) {
        if (code == protocol::ErrorCode::Forbidden || code == protocol::ErrorCode::OriginNotAllowed) ++forbidden;
        if (code == protocol::ErrorCode::Unauthorized || code == protocol::ErrorCode::TokenExpired ||
            code == protocol::ErrorCode::TokenRevoked) {
            ++unauthorized;
        }
    }
    void hit(Limit limit) { ++limitHits[static_cast<std::size_t>(limit)]; }

    void opened(TransportKind kind) {
        ++connections[static_cast<std::size_t>(kind)];
        ++connectionsTotal[static_cast<std::size_t>(kind)];
    }
    void closed(TransportKind kind) { --connections[static_cast<std::size_t>(kind)]; }
    void delivered(TransportKind kind, std::uint64_t count = 1) { deliveries[static_cast<std::size_t>(kind)] += count; }
    // A stream entry handed to a client: join and leave entries are counted apart.
    void sent(protocol::EntryEvent event) {
        if (event == protocol::EntryEvent::Join) ++joinsSent;
        if (event == protocol::EntryEvent::Leave) ++leavesSent;
    }
};

}  // namespace pushwire::server
