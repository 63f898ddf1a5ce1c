// SSE outside the browser: GET /pushwire/sse read as a stream by cpp-httplib on a worker
// thread (NativePlatform::startJob), parsed there (SseParser), the events posted to the
// loop. What the events mean is the browser transport's (client-wasm/src/transports/
// sse_transport.cpp). Unlike EventSource, a refused stream's answer is read directly: a
// 401 is the core's token refresh, not a failure.
#include <httplib.h>

#include "core/transport.hpp"
#include "core/wire.hpp"
#include "native_platform.hpp"
#include "native_transports.hpp"
#include "sse_parser.hpp"

namespace pushwire::client {
namespace {

class NativeSseTransport final : public Transport {
public:
    NativeSseTransport(TransportListener& l, NativePlatform& p, TransportConfig c, int g)
        : Transport(l, p, std::move(c), g), native_(p) {}
    ~NativeSseTransport() override { close(); }

    void open() override { connect(); }

    void channelsChanged(const std::vector<std::string>&, const std::vector<std::string>&) override {
        if (closed_) return;
        connect();
    }

    void close() override {
        if (closed_) return;
        closed_ = true;
        disconnect();
    }

private:
    void connect() {
        disconnect();
        std::vector<std::string> channels = listener_.channels();
        if (channels.empty()) {
            listener_.transportOpened(generation_);  // nothing to stream yet
            return;
        }
        streamChannels_ = channels;
        std::string target = "/pushwire/sse?channels=";
        for (std::size_t i = 0; i < channels.size(); ++i) target += (i ? "," : "") + channels[i];
        std::string cursor = listener_.resumeCursor(channels);
        if (!cursor.empty()) target += "&since=" + cursor;
        if (!config_.session.empty()) target += "&session=" + config_.session;
        // As the browser's EventSource: the token in the query (the server never logs it).
        if (std::string token = config_.currentToken(); !token.empty()) target += "&token=" + token;
        const SplitUrl split = splitHttpUrl(config_.baseUrl + target);
        const int stream = ++stream_;
        std::weak_ptr<bool> alive = alive_;
        // Events of this stream only: a reconnect for new channels starts a new one.
        auto deliver = [this, alive, stream](std::vector<SseEvent> events) {
            if (alive.expired() || closed_ || stream != stream_) return;
            for (const SseEvent& e : events) {
                if (closed_ || stream != stream_) return;  // an event closed it
                event(e);
            }
        };
        auto ended = [this, alive, stream](int status, std::string body) {
            if (alive.expired() || closed_ || stream != stream_) return;
            job_ = 0;
            closed_ = true;
            protocol::Error reason{protocol::ErrorCode::Internal,
                                   status == 0     ? "the event stream failed (refused, unreachable or cut)"
                                   : status == 200 ? "the event stream ended"
                                                   : "the event stream was refused: HTTP " + std::to_string(status)};
            if (status != 200) {
                if (auto error = wire::errorBody(body)) reason = *error;
            }
            listener_.transportClosed(generation_, reason);
        };
        auto http = native_.httpClient(split.origin);
        http->set_connection_timeout(std::chrono::seconds(5));
        // Heartbeats come every heartbeatMs: a silent stream is the core's dead link, and
        // this ends the worker some time after.
        http->set_read_timeout(std::chrono::milliseconds(std::max(30000, 4 * config_.heartbeatMs)));
        NativePlatform& platform = native_;
        job_ = native_.startJob(
            [http, target = split.target, deliver, ended, &platform](const std::atomic<bool>& cancelled) {
                httplib::Headers headers{{"Accept", "text/event-stream"}};
                int status = 0;
                std::string refusal;
                std::vector<SseEvent> batch;
                SseParser parser([&batch](const SseEvent& e) { batch.push_back(e); });
                auto result = http->Get(
                    target.c_str(), headers,
                    [&](const httplib::Response& response) {
                        status = response.status;
                        return !cancelled;
                    },
                    [&](const char* data, std::size_t length) {
                        if (cancelled) return false;
                        if (status != 200) {
                            if (refusal.size() < 65536) refusal.append(data, length);
                            return true;
                        }
                        parser.feed(std::string_view(data, length));
                        if (!batch.empty()) platform.post([deliver, events = std::move(batch)] { deliver(events); });
                        batch.clear();
                        return true;
                    });
                if (cancelled) return;
                if (!result && status == 200) status = 0;  // cut mid-stream
                platform.post([ended, status, refusal] { ended(status, refusal); });
            },
            [http] { http->stop(); });
    }

    void disconnect() {
        if (!job_) return;
        native_.cancelJob(job_);
        job_ = 0;
        ++stream_;
    }

    void event(const SseEvent& e) {
        const int generation = generation_;
        listener_.transportActivity(generation);
        const std::string& kind = e.type;
        if (kind == "welcome") {
            if (auto welcome = wire::welcome(e.data); welcome && !welcome->clientId.empty()) {
                listener_.transportClientId(generation, welcome->clientId);
            }
            listener_.transportOpened(generation);
            listener_.transportCursor(generation, e.lastEventId, streamChannels_);
        } else if (kind == "message" || kind == "join" || kind == "leave") {
            if (auto envelope = wire::envelope(e.data.c_str())) listener_.transportMessage(generation, *envelope);
        } else if (kind == "gap") {
            if (auto gap = wire::gap(e.data.c_str())) listener_.transportGap(generation, *gap);
        } else if (kind == "subscribed" || kind == "unsubscribed") {
            auto action = wire::serverAction(e.data);
            if (!action) return;
            if (kind == "unsubscribed") {
                listener_.transportServerUnsubscribed(generation, action->channels);
                return;
            }
            listener_.transportServerSubscribed(generation, action->channels);
            listener_.transportCursor(generation, e.lastEventId, action->channels);
        } else if (kind == "disconnect") {
            auto action = wire::serverAction(e.data);
            closed_ = true;
            disconnect();
            listener_.transportDisconnected(generation, action && action->reconnect);
        } else if (kind == "error") {
            auto error = wire::errorBody(e.data);
            const std::string channel = wire::errorChannel(e.data);
            protocol::Error reason = error.value_or(protocol::Error{protocol::ErrorCode::Internal, "stream error"});
            if (!channel.empty()) {
                listener_.transportRequestError(generation, "", reason, channel);
            } else {
                closed_ = true;
                disconnect();
                listener_.transportClosed(generation, reason);
            }
        }
    }

    NativePlatform& native_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    NativePlatform::JobId job_ = 0;
    int stream_ = 0;
    bool closed_ = false;
    std::vector<std::string> streamChannels_;
};

}  // namespace

std::unique_ptr<Transport> createNativeSseTransport(TransportListener& l, Platform& p, TransportConfig c, int g) {
    return std::make_unique<NativeSseTransport>(l, static_cast<NativePlatform&>(p), std::move(c), g);
}

}  // namespace pushwire::client
