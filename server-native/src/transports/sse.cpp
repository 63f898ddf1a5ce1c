// Server-Sent Events: one close-delimited text/event-stream per request. Every event
// that moves the stream's position carries `id: <cursor>`, so a plain EventSource that
// reconnects with Last-Event-ID resumes every channel of the stream exactly after it.
#include "pushwire/protocol/sse.hpp"

#include <chrono>

#include "transports/channel_request.hpp"
#include "transports/http_transports.hpp"

namespace pushwire::server {

using protocol::appendSseEvent;

class SseStream final : public Attachment, public Subscriber {
public:
    SseStream(SseTransport& transport, HttpConnection& connection, std::vector<StartPoint> points)
        : transport_(transport), context_(transport.context()), connection_(connection), points_(std::move(points)) {
        transport_.add(this);
        context_.metrics.opened(TransportKind::Sse);
    }
    ~SseStream() override { detach(); }

    // Writes the opening events and the backlog, then subscribes for live messages.
    // Single-threaded: nothing can be published between the backlog read and subscribe.
    std::string start() {
        std::string out = protocol::sseRetry(2000);
        const std::string& epoch = context_.hub.epoch();
        appendSseEvent(out, "welcome", cursorText(epoch, points_),
                       "{\"epoch\":\"" + epoch +
                           "\",\"heartbeat_ms\":" + std::to_string(context_.settings.heartbeat.count()) + "}");
        for (;;) {
            Batch batch = collectBatch(context_.hub, points_, context_.settings.maxBatch);
            for (const protocol::Gap& gap : batch.gaps) {
                appendSseEvent(out, "gap", cursorText(epoch, points_), protocol::encodeGap(gap));
            }
            // Ids of backlog events reflect each message in turn, so a cut mid-backlog
            // resumes exactly where the client stopped reading.
            std::vector<StartPoint> running = points_;
            for (const MessagePtr& message : batch.messages) {
                for (StartPoint& point : running) {
                    if (point.channel == message->channel) point.after = message->seq;
                }
                appendSseEvent(out, "", cursorText(epoch, running), message->envelope);
            }
            context_.metrics.delivered(TransportKind::Sse, batch.messages.size());
            context_.metrics.gaps += batch.gaps.size();
            if (!batch.more) break;
        }
        for (const StartPoint& point : points_) context_.hub.subscribe(point.channel, this);
        subscribed_ = true;
        return out;
    }

    void deliver(const MessagePtr& message) override {
        if (points_.size() == 1) {
            // The common case: the frame depends on the message alone, so it is built
            // once and shared by every single-channel stream of this fan-out.
            points_[0].after = message->seq;
            if (message->sseFrame.empty()) {
                std::string id = context_.hub.epoch() + "~";
                protocol::appendCursorEntry(id, message->channel, message->seq);
                appendSseEvent(message->sseFrame, "", id, message->envelope);
            }
            const std::string& frame = message->sseFrame;
            connection_.write(asio::const_buffer(frame.data(), frame.size()), message);
        } else {
            for (StartPoint& point : points_) {
                if (point.channel == message->channel) point.after = message->seq;
            }
            connection_.write(protocol::sseEvent("", cursorText(context_.hub.epoch(), points_), message->envelope));
        }
        context_.metrics.delivered(TransportKind::Sse);
    }

    void heartbeat(const std::shared_ptr<const std::string>& frame) {
        connection_.write(asio::const_buffer(frame->data(), frame->size()), frame);
    }

    void onClose() override { detach(); }

private:
    void detach() {
        if (detached_) return;
        detached_ = true;
        transport_.remove(this);
        if (subscribed_) {
            for (const StartPoint& point : points_) context_.hub.unsubscribe(point.channel, this);
        }
        context_.metrics.closed(TransportKind::Sse);
    }

    SseTransport& transport_;
    Context& context_;
    HttpConnection& connection_;
    std::vector<StartPoint> points_;
    bool subscribed_ = false;
    bool detached_ = false;
};

SseTransport::SseTransport(Context& context)
    : context_(context), heartbeat_(context.io, context.settings.heartbeat, [this](std::int64_t now) { beat(now); }) {}

SseTransport::~SseTransport() { heartbeat_.stop(); }

// A named event, not a comment: proxies see traffic and so does the page's EventSource,
// which lets a client notice a dead link.
void SseTransport::beat(std::int64_t nowMs) {
    if (streams_.empty()) return;
    auto frame =
        std::make_shared<const std::string>(protocol::sseEvent("ping", "", "{\"time\":" + std::to_string(nowMs) + "}"));
    std::vector<SseStream*> streams(streams_.begin(), streams_.end());
    for (SseStream* stream : streams) {
        if (streams_.count(stream)) stream->heartbeat(frame);
    }
}

void SseTransport::handle(HttpRequest& request, const HttpConnectionPtr& connection) {
    if (rejectRequest(context_, TransportKind::Sse, request, connection)) return;
    auto parsed = readChannelRequestOrAnswer(context_, request, *connection, true);
    if (!parsed) return;
    auto points = context_.hub.resolve(parsed->channels, parsed->cursor ? &*parsed->cursor : nullptr);
    auto stream = std::make_unique<SseStream>(*this, *connection, std::move(points));
    std::string body = stream->start();
    std::string head = statusLine(200) +
                       "Content-Type: text/event-stream; charset=utf-8\r\n"
                       "Cache-Control: no-cache, no-transform\r\n"
                       "X-Accel-Buffering: no\r\n"
                       "Access-Control-Allow-Origin: *\r\n"
                       "Connection: close\r\n\r\n";
    head += body;
    connection->beginStream(std::move(head), std::move(stream));
}

}  // namespace pushwire::server
