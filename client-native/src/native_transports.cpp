#include "native_transports.hpp"

#include "transports/http_polling.hpp"

namespace pushwire::client {

std::vector<TransportInfo> nativeTransports() {
    // kind, name, {bidirectional, upstreamPost, heartbeats}, factory, open timeout: as the
    // browser's table (client-wasm/src/transports/registry.cpp).
    return {
        {TransportKind::WebSocket, "websocket", {true, false, true}, createNativeWebSocketTransport, 2500},
        {TransportKind::Sse, "sse", {false, true, true}, createNativeSseTransport, 2000},
        {TransportKind::LongPoll, "longpoll", {false, true, false}, createLongPollTransport, 4000},
        {TransportKind::Poll, "poll", {false, true, false}, createPollTransport, 4000},
    };
}

}  // namespace pushwire::client
