// WebSocket subscribers: websocketpp's RFC 6455 processor (hybi13, client side) builds
// the handshake, checks the server's answer and parses the frames; the bytes move on a
// socket connected by asio and read through the Receiver. pushwire:
// /pushwire/ws?channel=C on its WebSocket port, established on "subscribed"; Nchan:
// /sub/C on its one port, established on the 101.
#include <websocketpp/common/memory.hpp>
#include <websocketpp/concurrency/none.hpp>
#include <websocketpp/extensions/permessage_deflate/disabled.hpp>
#include <websocketpp/http/request.hpp>
#include <websocketpp/http/response.hpp>
#include <websocketpp/message_buffer/alloc.hpp>
#include <websocketpp/message_buffer/message.hpp>
#include <websocketpp/processors/hybi13.hpp>
#include <websocketpp/random/random_device.hpp>
#include <websocketpp/uri.hpp>

#include "bench.hpp"
#include "receiver.hpp"

namespace pushwire::bench {
namespace {

using asio::ip::tcp;

struct ClientFraming {
    typedef websocketpp::http::parser::request request_type;
    typedef websocketpp::http::parser::response response_type;
    typedef websocketpp::message_buffer::message<websocketpp::message_buffer::alloc::con_msg_manager> message_type;
    typedef websocketpp::message_buffer::alloc::con_msg_manager<message_type> con_msg_manager_type;
    typedef websocketpp::random::random_device::int_generator<uint32_t, websocketpp::concurrency::none> rng_type;
    struct permessage_deflate_config {};
    typedef websocketpp::extensions::permessage_deflate::disabled<permessage_deflate_config> permessage_deflate_type;
    static const std::size_t max_message_size = 16 * 1024 * 1024;
    static const bool enable_extensions = false;
};

using Processor = websocketpp::processor::hybi13<ClientFraming>;

class WsSubscriber final : public SubscriberBase, public Sink, public std::enable_shared_from_this<WsSubscriber> {
public:
    WsSubscriber(asio::io_context& io, Receiver& receiver, const Config& config, std::string channel, Tally& tally)
        : SubscriberBase(Mode::WebSocket, tally),
          socket_(io),
          receiver_(receiver),
          config_(config),
          channel_(std::move(channel)),
          manager_(std::make_shared<ClientFraming::con_msg_manager_type>()),
          processor_(false, false, manager_, rng_) {}

    void start() override {
        const bool pushwire = config_.target == Target::Pushwire;
        const int port = pushwire ? config_.wsPort : config_.port;
        auto uri = std::make_shared<websocketpp::uri>(
            "ws://" + config_.host + ":" + std::to_string(port) +
            (pushwire ? "/pushwire/ws?channel=" + channel_ + (config_.token.empty() ? "" : "&token=" + config_.token)
                      : (config_.pubsub ? "/pubsub/" : "/sub/") + channel_));
        if (!uri->get_valid()) return fail("bad url");
        if (auto ec = processor_.client_handshake_request(request_, uri, {})) return fail(ec.message());
        auto self = shared_from_this();
        tcp::endpoint endpoint(asio::ip::make_address(config_.host), static_cast<unsigned short>(port));
        socket_.async_connect(endpoint, [self](const std::error_code& ec) {
            if (ec) return self->fail("connect: " + ec.message());
            std::error_code ignored;
            self->socket_.set_option(tcp::no_delay(true), ignored);
            if (!self->receiver_.adopt(self->socket_, *self)) return self->fail("cannot watch the socket");
            if (!Receiver::send(*self, self->request_.raw())) self->fail("write failed");
        });
    }

    void stop() override {
        stopped_ = true;
        std::error_code ignored;
        socket_.close(ignored);  // still connecting
        receiver_.drop(*this);
    }

    void onClosed(const std::string& why) override { fail(why); }

    void onBytes(const char* data, std::size_t size) override {
        if (stopped_) return;
        if (!open_) {
            std::size_t used = 0;
            try {
                used = response_.consume(data, size);
            } catch (const std::exception& e) {
                return fail(std::string("bad handshake response: ") + e.what());
            }
            if (!response_.headers_ready()) return;
            if (auto ec = processor_.validate_server_handshake_response(request_, response_)) {
                return fail("handshake: " + ec.message());
            }
            open_ = true;
            if (config_.target == Target::Nchan) establish();
            data += used;
            size -= used;
        }
        while (size > 0) {
            std::error_code ec;
            const std::size_t used = processor_.consume(reinterpret_cast<uint8_t*>(const_cast<char*>(data)), size, ec);
            if (ec) return fail("bad frame: " + ec.message());
            data += used;
            size -= used;
            if (!processor_.ready()) continue;
            auto message = processor_.get_message();
            if (!message) continue;
            if (message->get_opcode() == websocketpp::frame::opcode::close) return fail("closed by server");
            if (message->get_opcode() != websocketpp::frame::opcode::text) continue;  // pings need no answer here
            const std::string& text = message->get_payload();
            if (!established_ && text.find("\"type\":\"subscribed\"") != std::string::npos) establish();
            scanMessages(text, [this](std::int64_t i, std::int64_t t) {
                sequence_.seen(i, t, tally_);
                if (onMessage) onMessage(i);
            });
        }
    }

    // A text frame, masked with a zero key (the payload goes as is): pushwire's publish
    // frame, or the bare data for Nchan's pubsub location.
    bool publish(const std::string& channel, const std::string& data) override {
        if (!open_ || stopped_) return false;
        const std::string text = config_.target == Target::Pushwire
                                     ? "{\"type\":\"publish\",\"channel\":\"" + channel + "\",\"data\":" + data + "}"
                                     : data;
        std::string frame(1, static_cast<char>(0x81));
        if (text.size() < 126) {
            frame += static_cast<char>(0x80 | text.size());
        } else {
            frame += static_cast<char>(0x80 | 126);
            frame += static_cast<char>((text.size() >> 8) & 0xff);
            frame += static_cast<char>(text.size() & 0xff);
        }
        frame.append(4, '\0');
        frame += text;
        return Receiver::send(*this, frame);
    }

private:
    tcp::socket socket_;  // until connected; then the Receiver has it
    Receiver& receiver_;
    const Config& config_;
    std::string channel_;
    std::shared_ptr<ClientFraming::con_msg_manager_type> manager_;
    ClientFraming::rng_type rng_;
    Processor processor_;
    ClientFraming::request_type request_;
    ClientFraming::response_type response_;
    bool open_ = false;
};

}  // namespace

std::shared_ptr<Subscriber> makeWsSubscriber(asio::io_context& io, Receiver& receiver, const Config& config,
                                             const std::string& channel, Tally& tally) {
    return std::make_shared<WsSubscriber>(io, receiver, config, channel, tally);
}

}  // namespace pushwire::bench
