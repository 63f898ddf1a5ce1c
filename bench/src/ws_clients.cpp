// WebSocket subscribers: one websocketpp client endpoint on the shared loop, one
// connection per subscriber. pushwire: /pushwire/ws?channel=C on its WebSocket port,
// established on "subscribed"; Nchan: /sub/C on its one port, established on open.
#include <websocketpp/client.hpp>
#include <websocketpp/concurrency/none.hpp>
#include <websocketpp/config/asio_no_tls_client.hpp>

#include "bench.hpp"

namespace pushwire::bench {
namespace {

struct ClientConfig : public websocketpp::config::asio_client {
    typedef ClientConfig type;
    typedef websocketpp::config::asio_client base;
    typedef websocketpp::concurrency::none concurrency_type;
    typedef base::request_type request_type;
    typedef base::response_type response_type;
    typedef base::message_type message_type;
    typedef base::con_msg_manager_type con_msg_manager_type;
    typedef base::endpoint_msg_manager_type endpoint_msg_manager_type;
    typedef websocketpp::log::basic<concurrency_type, websocketpp::log::elevel> elog_type;
    typedef websocketpp::log::basic<concurrency_type, websocketpp::log::alevel> alog_type;
    typedef base::rng_type rng_type;
    static bool const enable_multithreading = false;
    struct transport_config : public base::transport_config {
        typedef type::concurrency_type concurrency_type;
        typedef type::alog_type alog_type;
        typedef type::elog_type elog_type;
        typedef type::request_type request_type;
        typedef type::response_type response_type;
        typedef websocketpp::transport::asio::basic_socket::endpoint socket_type;
        static bool const enable_multithreading = false;
    };
    typedef websocketpp::transport::asio::endpoint<transport_config> transport_type;
    static const std::size_t connection_read_buffer_size = 4096;
    static const long timeout_open_handshake = 30000;
    static const websocketpp::log::level elog_level = websocketpp::log::elevel::none;
    static const websocketpp::log::level alog_level = websocketpp::log::alevel::none;
};

using WsppClient = websocketpp::client<ClientConfig>;

}  // namespace

class WsClientPool {
public:
    explicit WsClientPool(asio::io_context& io) {
        client.clear_access_channels(websocketpp::log::alevel::all);
        client.clear_error_channels(websocketpp::log::elevel::all);
        client.init_asio(&io);
        client.set_socket_init_handler([](websocketpp::connection_hdl, asio::ip::tcp::socket& s) {
            std::error_code ignored;
            s.set_option(asio::ip::tcp::no_delay(true), ignored);
            s.set_option(asio::socket_base::linger(true, 0), ignored);  // no TIME_WAIT pile-up
        });
    }
    WsppClient client;
};

namespace {

class WsSubscriber final : public SubscriberBase, public std::enable_shared_from_this<WsSubscriber> {
public:
    WsSubscriber(WsClientPool& pool, const Config& config, std::string channel, Tally& tally)
        : SubscriberBase(Mode::WebSocket, tally), pool_(pool), config_(config), channel_(std::move(channel)) {}

    void start() override {
        std::string url = config_.target == Target::Pushwire
                              ? "ws://" + config_.host + ":" + std::to_string(config_.wsPort) +
                                    "/pushwire/ws?channel=" + channel_
                              : "ws://" + config_.host + ":" + std::to_string(config_.port) + "/sub/" + channel_;
        std::error_code ec;
        con_ = pool_.client.get_connection(url, ec);
        if (ec) return fail("bad url: " + ec.message());
        auto self = shared_from_this();
        con_->set_open_handler([self](websocketpp::connection_hdl) {
            if (self->config_.target == Target::Nchan) self->establish();
        });
        con_->set_message_handler([self](websocketpp::connection_hdl, WsppClient::message_ptr msg) {
            const std::string& text = msg->get_payload();
            if (!self->established_ && text.find("\"type\":\"subscribed\"") != std::string::npos) self->establish();
            scanMessages(text, [&](std::int64_t i, std::int64_t t) { self->sequence_.seen(i, t, self->tally_); });
        });
        con_->set_fail_handler([self](websocketpp::connection_hdl) {
            self->fail("handshake failed: " + self->con_->get_ec().message());
        });
        con_->set_close_handler([self](websocketpp::connection_hdl) {
            if (!self->stopped_) self->fail("closed by server");
        });
        pool_.client.connect(con_);
    }

    void stop() override {
        stopped_ = true;
        if (con_) {
            std::error_code ignored;
            con_->get_raw_socket().close(ignored);
            con_->set_message_handler(nullptr);
            con_->set_close_handler(nullptr);
            con_->set_fail_handler(nullptr);
            con_->set_open_handler(nullptr);
        }
        con_.reset();
    }

private:
    WsClientPool& pool_;
    const Config& config_;
    std::string channel_;
    WsppClient::connection_ptr con_;
};

}  // namespace

std::shared_ptr<WsClientPool> makeWsPool(asio::io_context& io) { return std::make_shared<WsClientPool>(io); }

std::shared_ptr<Subscriber> makeWsSubscriber(WsClientPool& pool, const Config& config,
                                             const std::string& channel, Tally& tally) {
    return std::make_shared<WsSubscriber>(pool, config, channel, tally);
}

}  // namespace pushwire::bench
