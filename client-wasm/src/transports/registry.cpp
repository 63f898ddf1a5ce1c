#include "transports/registry.hpp"

#include "transports/http_polling.hpp"

namespace pushwire::client {

std::vector<TransportInfo> defaultTransports() {
    // kind, name, {bidirectional, upstreamPost, heartbeats}, factory, open timeout
    return {
#ifdef __EMSCRIPTEN__
        {TransportKind::WebSocket, "websocket", {true, false, true}, createWebSocketTransport, 2500},
        {TransportKind::Sse, "sse", {false, true, true}, createSseTransport, 2000},
#endif
        {TransportKind::LongPoll, "longpoll", {false, true, false}, createLongPollTransport, 4000},
        {TransportKind::Poll, "poll", {false, true, false}, createPollTransport, 4000},
    };
}

}  // namespace pushwire::client
