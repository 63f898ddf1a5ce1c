// websocketpp's client endpoints on the platform's io_context (standalone asio, as the
// server and the tests use it), one of each per NativePlatform: ws:// and wss://. Each
// WebSocket transport makes its connections on the one its URL needs and sets its own
// handlers on them.
#pragma once

#include <asio/ssl.hpp>
#include <websocketpp/client.hpp>
#include <websocketpp/config/asio_client.hpp>
#include <websocketpp/config/asio_no_tls_client.hpp>

namespace pushwire::client {

using WsppClient = websocketpp::client<websocketpp::config::asio_client>;
using WsppTlsClient = websocketpp::client<websocketpp::config::asio_tls_client>;

class WebSocketEndpoint {
public:
    explicit WebSocketEndpoint(asio::io_context& io) {
        client_.clear_access_channels(websocketpp::log::alevel::all);
        client_.clear_error_channels(websocketpp::log::elevel::all);
        client_.init_asio(&io);
    }
    WsppClient& client() { return client_; }
    WsppClient::connection_ptr connection(const std::string& url, std::error_code& ec) {
        return client_.get_connection(url, ec);
    }

private:
    WsppClient client_;
};

// wss://: the server's certificate verified against `caFile` (PEM; empty: the system's
// store) and for the connection's host name (websocketpp sends it as SNI too). Never
// unverified.
class TlsWebSocketEndpoint {
public:
    TlsWebSocketEndpoint(asio::io_context& io, std::string caFile) : caFile_(std::move(caFile)) {
        client_.clear_access_channels(websocketpp::log::alevel::all);
        client_.clear_error_channels(websocketpp::log::elevel::all);
        client_.init_asio(&io);
        // Called inside get_connection (connection() below), before the connection knows
        // its URI: the host it is for is host_, set just before.
        client_.set_tls_init_handler([this](websocketpp::connection_hdl) {
            auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
            context->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                                 asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                                 asio::ssl::context::no_tlsv1_1);
            context->set_verify_mode(asio::ssl::verify_peer);
            std::error_code ec;
            if (caFile_.empty()) {
                context->set_default_verify_paths(ec);
            } else {
                context->load_verify_file(caFile_, ec);
            }
            // A CA that cannot be loaded verifies nothing: the handshake then fails.
            context->set_verify_callback(asio::ssl::host_name_verification(host_));
            return context;
        });
    }
    WsppTlsClient& client() { return client_; }
    WsppTlsClient::connection_ptr connection(const std::string& url, std::error_code& ec) {
        try {
            host_ = websocketpp::uri(url).get_host();
        } catch (const std::exception&) {
            host_.clear();  // get_connection refuses the URL itself
        }
        return client_.get_connection(url, ec);
    }

private:
    std::string caFile_;
    std::string host_;
    WsppTlsClient client_;
};

}  // namespace pushwire::client
