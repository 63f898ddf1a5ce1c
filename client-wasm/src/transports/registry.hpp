// The transport table. Its order is the fallback order of transport "auto":
// WebSocket, then SSE, then long polling, then polling. Adding a transport adds one
// file and one row here.
#pragma once

#include <vector>

#include "core/transport.hpp"

namespace pushwire::client {

std::vector<TransportInfo> defaultTransports();

std::unique_ptr<Transport> createWebSocketTransport(TransportListener&, Platform&, TransportConfig, int);
std::unique_ptr<Transport> createSseTransport(TransportListener&, Platform&, TransportConfig, int);

}  // namespace pushwire::client
