#include "transports/registry.hpp"

#include "transports/http_polling.hpp"

namespace pushwire::client {

std::vector<TransportInfo> defaultTransports() {
    //                 kind                     name         bidirectional upstreamPost heartbeats
    return {
#ifdef __EMSCRIPTEN__
        {TransportKind::WebSocket, "websocket", {true, false, true}, createWebSocketTransport},
        {TransportKind::Sse, "sse", {false, true, true}, createSseTransport},
#endif
        {TransportKind::LongPoll, "longpoll", {false, true, false}, createLongPollTransport},
        {TransportKind::Poll, "poll", {false, true, false}, createPollTransport},
    };
}

}  // namespace pushwire::client
