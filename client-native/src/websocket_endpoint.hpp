// websocketpp's client endpoint on the platform's io_context (standalone asio, as the
// server and the tests use it), one per NativePlatform; each WebSocket transport makes
// its connections here and sets its own handlers on them.
#pragma once

#include <websocketpp/client.hpp>
#include <websocketpp/config/asio_no_tls_client.hpp>

namespace pushwire::client {

using WsppClient = websocketpp::client<websocketpp::config::asio_client>;

class WebSocketEndpoint {
public:
    explicit WebSocketEndpoint(asio::io_context& io) {
        client_.clear_access_channels(websocketpp::log::alevel::all);
        client_.clear_error_channels(websocketpp::log::elevel::all);
        client_.init_asio(&io);
    }
    WsppClient& client() { return client_; }

private:
    WsppClient client_;
};

}  // namespace pushwire::client
