// SSE: the browser's EventSource. Subscription changes reopen the stream with the
// core's cursor, so the channels that stay subscribed resume exactly where they were.
#include <emscripten.h>

#include "core/transport.hpp"
#include "core/wire.hpp"
#include "pushwire/protocol/envelope.hpp"
#include "pushwire/protocol/frames.hpp"
#include "transports/live_handles.hpp"
#include "transports/registry.hpp"

EM_JS(void, pw_sse_open, (int handle, const char* url), { pwSseOpen(handle, UTF8ToString(url)); });
EM_JS(void, pw_sse_close, (int handle), { pwSseClose(handle); });

namespace pushwire::client {
namespace {

class SseTransport;
LiveHandles<SseTransport>& liveStreams() {
    static LiveHandles<SseTransport> streams;
    return streams;
}

// glue.js's numbers.
enum EventKind {
    kWelcome = 1,
    kMessage = 2,
    kGap = 3,
    kPing = 4,
    kFailed = 5,
    kError = 6,
    kJoin = 7,
    kLeave = 8,
    kSubscribed = 9,
    kUnsubscribed = 10,
    kDisconnect = 11
};

class SseTransport final : public Transport {
public:
    using Transport::Transport;
    ~SseTransport() override { close(); }

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

    void event(int kind, const char* data, const char* id) {
        const int generation = generation_;
        listener_.transportActivity(generation);
        switch (kind) {
            case kWelcome: {
                // id is the stream's starting cursor.
                std::string cursor = id ? id : "";
                if (auto welcome = wire::welcome(data ? data : ""); welcome && !welcome->clientId.empty()) {
                    listener_.transportClientId(generation, welcome->clientId);
                }
                // Opened before anything is delivered: a background upgrade switches here.
                listener_.transportOpened(generation);
                listener_.transportCursor(generation, cursor, streamChannels_);
                break;
            }
            case kMessage:
            case kJoin:
            case kLeave: {
                // A join or leave entry is its own event (a plain EventSource's onmessage
                // sees only messages); its data says which.
                auto envelope = wire::envelope(data);
                if (envelope) listener_.transportMessage(generation, *envelope);
                break;
            }
            case kGap: {
                auto gap = wire::gap(data);
                if (gap) listener_.transportGap(generation, *gap);
                break;
            }
            case kPing: break;
            // The backend's server API: a channel added to the stream (its id the stream's
            // position, naming it), one taken out, or the end of the stream.
            case kSubscribed:
            case kUnsubscribed: {
                auto action = wire::serverAction(data ? data : "");
                if (!action) break;
                if (kind == kUnsubscribed) {
                    listener_.transportServerUnsubscribed(generation, action->channels);
                    break;
                }
                listener_.transportServerSubscribed(generation, action->channels);
                listener_.transportCursor(generation, id ? id : "", action->channels);
                break;
            }
            case kDisconnect: {
                auto action = wire::serverAction(data ? data : "");
                if (closed_) break;
                closed_ = true;
                disconnect();
                listener_.transportDisconnected(generation, action && action->reconnect);
                break;
            }
            case kError: {
                // A channel refused: its subscriptions end, the stream goes on. Anything
                // else (an expired token, the broker gone) ends the stream.
                auto error = wire::errorBody(data ? data : "");
                const std::string channel = wire::errorChannel(data ? data : "");
                protocol::Error reason = error.value_or(protocol::Error{protocol::ErrorCode::Internal, "stream error"});
                if (!channel.empty()) {
                    listener_.transportRequestError(generation, "", reason, channel);
                } else if (!closed_) {
                    closed_ = true;
                    disconnect();
                    listener_.transportClosed(generation, reason);
                }
                break;
            }
            case kFailed:
                handle_ = 0;
                if (!closed_) {
                    closed_ = true;
                    listener_.transportClosed(
                        generation, {protocol::ErrorCode::Internal, "the event stream failed or was refused"});
                }
                break;
        }
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
        std::string url = config_.baseUrl + "/pushwire/sse?channels=";
        for (std::size_t i = 0; i < channels.size(); ++i) url += (i ? "," : "") + channels[i];
        std::string cursor = listener_.resumeCursor(channels);
        if (!cursor.empty()) url += "&since=" + cursor;
        if (!config_.session.empty()) url += "&session=" + config_.session;
        // EventSource sets no headers: the token goes in the query (the server never logs it).
        std::string token = config_.currentToken();
        if (!token.empty()) url += "&token=" + token;  // base64url and dots: no escaping
        handle_ = liveStreams().add(this);
        pw_sse_open(handle_, url.c_str());
    }
    void disconnect() {
        if (!handle_) return;
        liveStreams().remove(handle_);
        pw_sse_close(handle_);
        handle_ = 0;
    }

    int handle_ = 0;
    bool closed_ = false;
    std::vector<std::string> streamChannels_;
};

}  // namespace

std::unique_ptr<Transport> createSseTransport(TransportListener& l, Platform& p, TransportConfig c, int g) {
    return std::make_unique<SseTransport>(l, p, std::move(c), g);
}

}  // namespace pushwire::client

extern "C" EMSCRIPTEN_KEEPALIVE void pw_sse_event(int handle, int kind, const char* data, const char* id) {
    if (auto* stream = pushwire::client::liveStreams().find(handle)) stream->event(kind, data, id);
}
