// Long polling: the request is parked on the connection (no thread) until a message
// follows the client's position or the timeout passes; the client then asks again with
// the cursor of the answer.
#include <asio/post.hpp>
#include <charconv>

#include "transports/channel_request.hpp"
#include "transports/http_transports.hpp"

namespace pushwire::server {
namespace {

class LongPollWait final : public Attachment, public Subscriber {
public:
    LongPollWait(Context& context, HttpConnection& connection, std::vector<StartPoint> points)
        : context_(context), connection_(connection), points_(std::move(points)) {
        for (const StartPoint& point : points_) context_.hub.subscribe(point.channel, this);
        context_.metrics.opened(TransportKind::LongPoll);
    }
    ~LongPollWait() override { detach(); }

    void deliver(const MessagePtr&) override {
        // Answer on the next turn of the loop: never under the hub's fan-out, and the
        // messages published in the same turn go out in one answer.
        if (answerPosted_) return;
        answerPosted_ = true;
        asio::post(context_.io, [alive = alive_, this] {
            if (*alive) answer();
        });
    }
    void onTimeout() override { answer(); }
    void onClose() override { detach(); }

private:
    void answer() {
        if (detached_) return;
        // respond() calls onClose() on us, which detaches from the hub.
        respondBatch(context_, TransportKind::LongPoll,
                     collectBatch(context_.hub, points_, context_.settings.maxBatch, context_.settings.maxBatchBytes),
                     points_, connection_);
    }
    void detach() {
        if (detached_) return;
        detached_ = true;
        *alive_ = false;
        for (const StartPoint& point : points_) context_.hub.unsubscribe(point.channel, this);
        context_.metrics.closed(TransportKind::LongPoll);
    }

    Context& context_;
    HttpConnection& connection_;
    std::vector<StartPoint> points_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    bool answerPosted_ = false;
    bool detached_ = false;
};

}  // namespace

void handleLongPoll(Context& context, HttpRequest& request, const HttpConnectionPtr& connection) {
    if (rejectRequest(context, TransportKind::LongPoll, request, connection)) return;
    auto parsed = readChannelRequestOrAnswer(context, request, *connection, false);
    if (!parsed) return;
    std::chrono::milliseconds timeout = context.settings.longPollTimeout;
    if (const std::string* text = request.param("timeout_ms")) {
        long long value = -1;
        auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
        if (ec != std::errc() || ptr != text->data() + text->size() || value < 0) {
            ++context.metrics.errors;
            connection->respondError(protocol::ErrorCode::BadRequest,
                                     "timeout_ms must be a whole number of milliseconds, got '" + *text + "'");
            return;
        }
        timeout = std::min(std::chrono::milliseconds(value), context.settings.longPollMaxTimeout);
    }
    auto points = resolveOrAnswer(context, *parsed, *connection);
    if (!points) return;
    Batch batch = collectBatch(context.hub, *points, context.settings.maxBatch, context.settings.maxBatchBytes);
    if (!batch.empty() || timeout.count() == 0) {
        answerBatch(context, TransportKind::LongPoll, batch, *points, *connection);
        return;
    }
    connection->hold(std::make_unique<LongPollWait>(context, *connection, std::move(*points)), timeout);
}

}  // namespace pushwire::server
