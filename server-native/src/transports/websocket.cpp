#include "transports/websocket.hpp"

#include <websocketpp/concurrency/none.hpp>
#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/server.hpp>

#include "front/http_request.hpp"
#include "pushwire/protocol/cursor.hpp"
#include "pushwire/protocol/frames.hpp"
#include "transports/channel_request.hpp"

namespace pushwire::server {
namespace {

// websocketpp's asio config, single-threaded, silent, with a small per-connection read
// buffer (an idle connection holds it for its whole life).
struct WsConfig : public websocketpp::config::asio {
    typedef WsConfig type;
    typedef websocketpp::config::asio base;
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

    static const std::size_t connection_read_buffer_size = 2048;
    static const websocketpp::log::level elog_level = websocketpp::log::elevel::none;
    static const websocketpp::log::level alog_level = websocketpp::log::alevel::none;
};

using WsServer = websocketpp::server<WsConfig>;
using WsMessagePtr = WsConfig::message_type::ptr;
using protocol::ErrorCode;

}  // namespace

class WsSession final : public Subscriber, public std::enable_shared_from_this<WsSession> {
public:
    WsSession(WebSocketTransport::Impl& transport, WsServer::connection_ptr connection);
    ~WsSession() { detach(); }

    void onOpen();
    void onMessage(WsServer::message_ptr message);
    void deliver(const MessagePtr& message) override;
    void sendPrepared(const WsMessagePtr& frame);
    void detach();
    WsServer::connection_ptr connection() const { return connection_; }

private:
    void send(const std::string& text);
    void sendError(const std::string& idJson, ErrorCode code, const std::string& message);
    void subscribe(const std::vector<std::string>& channels, const std::optional<std::string>& since,
                   const std::string& idJson);
    void unsubscribe(const std::vector<std::string>& channels);
    void publish(const protocol::ClientFrame& frame);
    bool tooSlow();

    WebSocketTransport::Impl& transport_;
    Context& context_;
    WsServer::connection_ptr connection_;
    std::vector<StartPoint> subscriptions_;  // channel and last seq sent
    bool detached_ = false;
};

struct WebSocketTransport::Impl {
    explicit Impl(Context& c)
        : context(c),
          manager(std::make_shared<WsConfig::con_msg_manager_type>()),
          framer(false, true, manager, rng),
          heartbeat(c.io) {}

    // One frame, reused for every connection that receives it.
    WsMessagePtr prepare(const std::string& text) {
        WsMessagePtr in = manager->get_message(websocketpp::frame::opcode::text, text.size());
        in->set_payload(text);
        WsMessagePtr out = manager->get_message();
        framer.prepare_data_frame(in, out);
        return out;
    }

    void scheduleHeartbeat() {
        heartbeat.expires_after(context.settings.heartbeat);
        heartbeat.async_wait([this](const std::error_code& ec) {
            if (ec) return;
            if (!sessions.empty()) {
                auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
                WsMessagePtr frame = prepare(protocol::encodePingFrame(now));
                std::vector<std::shared_ptr<WsSession>> open;
                for (WsSession* session : sessions) open.push_back(session->shared_from_this());
                for (auto& session : open) {
                    session->sendPrepared(frame);
                    // A protocol ping too: browsers answer it, so a vanished client is
                    // found by the pong timeout even when it never sends anything.
                    std::error_code ignored;
                    if (auto con = session->connection()) con->ping("", ignored);
                }
            }
            scheduleHeartbeat();
        });
    }

    Context& context;
    WsServer server;
    std::shared_ptr<WsConfig::con_msg_manager_type> manager;
    WsConfig::rng_type rng;
    websocketpp::processor::hybi13<WsConfig> framer;
    asio::steady_timer heartbeat;
    std::unordered_set<WsSession*> sessions;
    bool listening = false;
};

WsSession::WsSession(WebSocketTransport::Impl& transport, WsServer::connection_ptr connection)
    : transport_(transport), context_(transport.context), connection_(std::move(connection)) {
    transport_.sessions.insert(this);
    context_.metrics.opened(TransportKind::WebSocket);
}

void WsSession::detach() {
    if (detached_) return;
    detached_ = true;
    for (const StartPoint& point : subscriptions_) context_.hub.unsubscribe(point.channel, this);
    subscriptions_.clear();
    transport_.sessions.erase(this);
    context_.metrics.closed(TransportKind::WebSocket);
    connection_.reset();
}

bool WsSession::tooSlow() {
    if (!connection_) return true;
    if (connection_->get_buffered_amount() <= context_.settings.maxQueuedBytes) return false;
    ++context_.metrics.disconnectedSlow[static_cast<std::size_t>(TransportKind::WebSocket)];
    std::error_code ignored;
    connection_->close(protocol::kCloseOverloaded, "client too slow: reconnect and resume", ignored);
    detach();
    return true;
}

void WsSession::send(const std::string& text) {
    if (tooSlow()) return;
    connection_->send(text, websocketpp::frame::opcode::text);
}

void WsSession::sendPrepared(const WsMessagePtr& frame) {
    if (tooSlow()) return;
    connection_->send(frame);
}

void WsSession::sendError(const std::string& idJson, ErrorCode code, const std::string& message) {
    ++context_.metrics.errors;
    send(protocol::encodeErrorFrame(idJson, code, message));
}

void WsSession::onOpen() {
    send(protocol::encodeWelcomeFrame(context_.hub.epoch(),
                                      static_cast<int>(context_.settings.heartbeat.count())));
    // ws://host/pushwire/ws?channel=chat&since=... subscribes without sending a frame.
    HttpRequest request;
    if (!splitTarget(connection_->get_resource(), request.path, request.query)) {
        sendError("", ErrorCode::BadRequest, "the URL has a malformed %-escape");
        return;
    }
    if (!request.param("channel") && !request.param("channels")) return;
    auto parsed = readChannelRequest(request, context_.settings, false);
    if (!parsed) {
        sendError("", parsed.error().code, parsed.error().message);
        return;
    }
    const std::string* since = request.param("since");
    subscribe(parsed->channels, since ? std::optional<std::string>(*since) : std::nullopt, "");
}

void WsSession::onMessage(WsServer::message_ptr message) {
    if (detached_) return;
    if (message->get_opcode() != websocketpp::frame::opcode::text) {
        sendError("", ErrorCode::BadRequest, "binary frames are not supported; send JSON text");
        return;
    }
    auto frame = protocol::decodeClientFrame(message->get_payload());
    if (!frame) {
        sendError("", frame.error().code, frame.error().message);
        return;
    }
    switch (frame->type) {
        case protocol::ClientFrameType::Subscribe:
            subscribe(frame->channels, frame->since, frame->idJson);
            break;
        case protocol::ClientFrameType::Unsubscribe:
            unsubscribe(frame->channels);
            break;
        case protocol::ClientFrameType::Publish:
            publish(*frame);
            break;
        case protocol::ClientFrameType::Ping:
            send(protocol::encodePongFrame());
            break;
        case protocol::ClientFrameType::Pong:
            break;
    }
}

void WsSession::subscribe(const std::vector<std::string>& channels,
                          const std::optional<std::string>& since, const std::string& idJson) {
    std::optional<protocol::Cursor> cursor;
    if (since && !since->empty()) {
        auto parsed = protocol::parseCursor(*since);
        if (!parsed) {
            sendError(idJson, ErrorCode::BadCursor, "since: " + parsed.error().message);
            return;
        }
        cursor = std::move(parsed.value());
    }
    if (subscriptions_.size() + channels.size() > 4 * context_.settings.maxChannelsPerRequest) {
        sendError(idJson, ErrorCode::BadRequest, "too many channels on one connection");
        return;
    }
    unsubscribe(channels);  // a re-subscribe restarts from the new position
    auto points = context_.hub.resolve(channels, cursor ? &*cursor : nullptr);
    send(protocol::encodeSubscribedFrame(idJson, channels,
                                         cursorText(context_.hub.epoch(), points)));
    for (;;) {
        Batch batch = collectBatch(context_.hub, points, context_.settings.maxBatch);
        for (const protocol::Gap& gap : batch.gaps) send(protocol::encodeGapFrame(gap));
        for (const MessagePtr& message : batch.messages) deliver(message);
        context_.metrics.gaps += batch.gaps.size();
        if (!batch.more || detached_) break;
    }
    if (detached_) return;
    for (StartPoint& point : points) {
        context_.hub.subscribe(point.channel, this);
        subscriptions_.push_back(std::move(point));
    }
}

void WsSession::unsubscribe(const std::vector<std::string>& channels) {
    for (const std::string& channel : channels) {
        for (auto it = subscriptions_.begin(); it != subscriptions_.end(); ++it) {
            if (it->channel == channel) {
                context_.hub.unsubscribe(channel, this);
                subscriptions_.erase(it);
                break;
            }
        }
    }
}

void WsSession::publish(const protocol::ClientFrame& frame) {
    if (frame.dataJson.size() > context_.settings.maxMessageBytes) {
        ++context_.metrics.publishRejected;
        sendError(frame.idJson, ErrorCode::TooLarge,
                  "data is " + std::to_string(frame.dataJson.size()) + " bytes; at most " +
                      std::to_string(context_.settings.maxMessageBytes));
        return;
    }
    auto self = shared_from_this();  // the fan-out may reach this session
    auto published = context_.hub.publish(frame.channel, frame.dataJson);
    if (!published) {
        sendError(frame.idJson, published.error().code, published.error().message);
        return;
    }
    ++context_.metrics.published;
    if (!detached_) send(protocol::encodeAckFrame(frame.idJson, frame.channel, (*published)->seq));
}

void WsSession::deliver(const MessagePtr& message) {
    if (detached_) return;
    for (StartPoint& point : subscriptions_) {
        if (point.channel == message->channel) point.after = message->seq;
    }
    if (!message->wsFrame) {
        message->wsFrame = std::make_shared<WsMessagePtr>(
            transport_.prepare(protocol::encodeMessageFrame(message->envelope)));
    }
    sendPrepared(*std::static_pointer_cast<WsMessagePtr>(message->wsFrame));
    context_.metrics.delivered(TransportKind::WebSocket);
}

WebSocketTransport::WebSocketTransport(Context& context) : impl_(std::make_unique<Impl>(context)) {
    WsServer& server = impl_->server;
    server.init_asio(&context.io);
    server.set_reuse_addr(true);
    server.set_listen_backlog(4096);
    server.set_max_message_size(context.settings.maxMessageBytes + 4096);
    server.set_open_handshake_timeout(10000);
    server.set_close_handshake_timeout(3000);
    server.set_pong_timeout(static_cast<long>(2 * context.settings.heartbeat.count()));
    server.clear_access_channels(websocketpp::log::alevel::all);
    server.clear_error_channels(websocketpp::log::elevel::all);

    // Frames are small and latency matters: no Nagle delay behind an unacknowledged one.
    server.set_socket_init_handler([](websocketpp::connection_hdl, asio::ip::tcp::socket& socket) {
        std::error_code ignored;
        socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    });

    Impl* impl = impl_.get();
    server.set_validate_handler([impl](websocketpp::connection_hdl hdl) {
        auto con = impl->server.get_con_from_hdl(hdl);
        std::string path = con->get_resource().substr(0, con->get_resource().find('?'));
        ErrorCode code = ErrorCode::NotFound;
        std::string message;
        if (!impl->context.settings.isEnabled(TransportKind::WebSocket)) {
            code = ErrorCode::TransportDisabled;
            message = "the websocket transport is disabled on this server (--transports)";
        } else if (path != "/pushwire/ws") {
            message = "no WebSocket endpoint at " + path + "; use /pushwire/ws";
        } else {
            return true;
        }
        con->set_status(static_cast<websocketpp::http::status_code::value>(protocol::httpStatus(code)));
        con->set_body(protocol::errorBody(code, message));
        con->append_header("Content-Type", "application/json");
        return false;
    });
    server.set_http_handler([impl](websocketpp::connection_hdl hdl) {
        auto con = impl->server.get_con_from_hdl(hdl);
        con->set_status(websocketpp::http::status_code::upgrade_required);
        con->append_header("Content-Type", "application/json");
        con->append_header("Access-Control-Allow-Origin", "*");
        con->set_body(protocol::errorBody(ErrorCode::BadRequest,
                                          "this port speaks WebSocket: connect to /pushwire/ws"));
    });
    server.set_open_handler([impl](websocketpp::connection_hdl hdl) {
        auto con = impl->server.get_con_from_hdl(hdl);
        auto session = std::make_shared<WsSession>(*impl, con);
        con->set_message_handler([session](websocketpp::connection_hdl, WsServer::message_ptr msg) {
            session->onMessage(std::move(msg));
        });
        con->set_close_handler([session](websocketpp::connection_hdl) { session->detach(); });
        con->set_pong_timeout_handler([session](websocketpp::connection_hdl, std::string) {
            if (auto c = session->connection()) {
                std::error_code ignored;
                c->close(protocol::kCloseGoingAway, "no pong: connection considered dead", ignored);
            }
        });
        session->onOpen();
    });
    impl->scheduleHeartbeat();
}

WebSocketTransport::~WebSocketTransport() { stop(); }

void WebSocketTransport::listen(const std::string& host, unsigned short port) {
    impl_->server.listen(host, std::to_string(port));
    impl_->server.start_accept();
    impl_->listening = true;
}

unsigned short WebSocketTransport::port() const {
    std::error_code ec;
    auto endpoint = impl_->server.get_local_endpoint(ec);
    return ec ? 0 : endpoint.port();
}

void WebSocketTransport::stop() {
    impl_->heartbeat.cancel();
    if (!impl_->listening) return;
    impl_->listening = false;
    std::error_code ignored;
    impl_->server.stop_listening(ignored);
    std::vector<std::shared_ptr<WsSession>> open;
    for (WsSession* session : impl_->sessions) open.push_back(session->shared_from_this());
    for (auto& session : open) {
        if (auto con = session->connection()) con->close(protocol::kCloseGoingAway, "server shutting down", ignored);
        session->detach();
    }
}

std::size_t WebSocketTransport::sessionCount() const { return impl_->sessions.size(); }

}  // namespace pushwire::server
