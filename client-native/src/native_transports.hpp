// The native transport table: the browser's order (WebSocket, SSE, long polling,
// polling), with websocketpp and cpp-httplib where the browser has WebSocket and
// EventSource; the polling transports are the core's own (client-wasm/src/transports/
// http_polling.cpp), on NativePlatform's HTTP requests. The factories need a
// NativePlatform.
#pragma once

#include <vector>

#include "core/transport.hpp"

namespace pushwire::client {

std::vector<TransportInfo> nativeTransports();

std::unique_ptr<Transport> createNativeWebSocketTransport(TransportListener&, Platform&, TransportConfig, int);
std::unique_ptr<Transport> createNativeSseTransport(TransportListener&, Platform&, TransportConfig, int);

}  // namespace pushwire::client
