#include "transports/poll_answer.hpp"

#include <asio/post.hpp>

#include "transports/channel_request.hpp"

namespace pushwire::server {

PollAnswer::PollAnswer(Context& context, TransportKind kind, HttpConnection& connection, bool wait)
    : context_(context), kind_(kind), connection_(connection), wait_(wait), feed_(context, *this) {
    context_.metrics.opened(kind_);
}

PollAnswer::~PollAnswer() { detach(); }

void PollAnswer::start(std::vector<FeedStart> starts, std::vector<protocol::Refusal> refused, std::string client,
                       std::optional<protocol::Member> member, std::chrono::milliseconds linger) {
    client_ = std::move(client);
    if (member) feed_.setMember(std::move(*member), linger);
    refused_ = std::move(refused);
    if (!refused_.empty()) feed_.nameChannels();
    feed_.add(std::move(starts));
}

void PollAnswer::control(const Caller& caller, std::vector<std::string> unsubscribed,
                         std::vector<std::string> subscribed) {
    unsubscribed_ = std::move(unsubscribed);
    subscribed_ = std::move(subscribed);
    if (!subscribed_.empty() || !unsubscribed_.empty()) feed_.nameChannels();
    if (answered_ || caller.user().empty()) return;
    user_ = caller.user();
    issuedAt_ = caller.issuedAt;
    context_.sessions.add(user_, this);
}

void PollAnswer::disconnectByServer(bool reconnect) {
    if (answered_) return;
    answered_ = true;
    ++context_.metrics.errors;
    connection_.respond(409, "application/json", disconnectedBody(reconnect));
}

void PollAnswer::revokeByServer() {
    if (answered_) return;
    context_.metrics.refused(protocol::ErrorCode::TokenRevoked);
    feedFailed(protocol::Error{protocol::ErrorCode::TokenRevoked, "the token was revoked; get a new one"});
}

bool PollAnswer::unsubscribeByServer(const std::string& channel) {
    if (answered_ || !feed_.has(channel)) return false;
    feed_.nameChannels();
    feed_.remove({channel});
    unsubscribed_.push_back(channel);
    answer(false);
    return false;  // counted as its poller
}

bool PollAnswer::subscribeByServer(const std::string&) {
    answer(false);  // the next request takes the channel (its poller holds it)
    return false;
}

bool PollAnswer::hasRoom() const {
    return !answered_ && messages_.size() < context_.settings.maxBatch && bytes_ < context_.settings.maxBatchBytes;
}

void PollAnswer::feedMessage(const MessagePtr& message) {
    context_.metrics.sent(message->event);
    if (messages_.empty()) messages_.reserve(8);  // one allocation for a small answer, not four
    messages_.push_back(message);
    bytes_ += message->envelope.size();
    // A live message: answer on the next turn, with whatever else this turn publishes.
    if (feed_.caughtUp() && !answerPosted_) {
        answerPosted_ = true;
        asio::post(context_.io, [this, alive = alive_] {
            if (*alive) answer(false);
        });
    }
}

void PollAnswer::feedRefused(int, const std::string& channel, const protocol::Error& error) {
    ++context_.metrics.errors;
    refused_.push_back(protocol::Refusal{channel, error});
    feed_.nameChannels();  // the feed no longer has the request's channels: a cursor by place would not fit
}

void PollAnswer::feedCaughtUp() {
    // A refusal is news too: a long-poll that refused a channel answers at once, so that
    // the client learns it in one round trip (not at the timeout) and asks again without it.
    if (!wait_ || !messages_.empty() || !gaps_.empty() || !refused_.empty() || feed_.size() == 0) answer(false);
}

void PollAnswer::onTimeout() {
    if (expiresAtMs_ > 0 && context_.nowMs() >= expiresAtMs_ && messages_.empty() && gaps_.empty()) {
        ++context_.metrics.expired;
        feedFailed(protocol::Error{protocol::ErrorCode::TokenExpired,
                                   "the token expired; ask again with a new one (the cursor is unchanged)"});
        return;
    }
    answer(false);
}

void PollAnswer::feedFailed(const protocol::Error& error) {
    if (answered_) return;
    answered_ = true;
    ++context_.metrics.errors;
    connection_.respondError(error.code, error.message);
}

void PollAnswer::answer(bool more) {
    if (answered_) return;
    answered_ = true;
    if (feed_.size() == 0 && !refused_.empty()) {
        answerRefusals(connection_, refused_);  // no channel could be subscribed
        return;
    }
    context_.metrics.delivered(kind_, messages_.size());
    // respond() tells us onClose() (we are the connection's attachment), which stops the
    // feed: nothing is fed after the answer.
    std::string body = encodeBatch(messages_, gaps_, feed_.cursor(), more || !feed_.caughtUp(), refused_, client_);
    appendServerChanges(body, unsubscribed_, subscribed_);
    connection_.respondJson(std::move(body));
}

void appendServerChanges(std::string& body, const std::vector<std::string>& unsubscribed,
                         const std::vector<std::string>& subscribed) {
    if (unsubscribed.empty() && subscribed.empty()) return;
    body.pop_back();
    for (const auto* list : {&unsubscribed, &subscribed}) {
        if (list->empty()) continue;
        body += list == &unsubscribed ? ",\"unsubscribed\":[" : ",\"subscribed\":[";
        for (std::size_t i = 0; i < list->size(); ++i) body += (i ? ",\"" : "\"") + (*list)[i] + "\"";
        body += ']';
    }
    body += '}';
}

void PollAnswer::detach() {
    if (detached_) return;
    detached_ = true;
    *alive_ = false;
    feed_.stop();
    if (!user_.empty()) context_.sessions.remove(user_, this);
    context_.metrics.closed(kind_);
}

std::string encodeBatch(const std::vector<MessagePtr>& messages, const std::vector<protocol::Gap>& gaps,
                        const std::string& cursor, bool more, const std::vector<protocol::Refusal>& refused,
                        const std::string& client) {
    std::size_t size = 64 + cursor.size();
    for (const MessagePtr& message : messages) size += message->envelope.size() + 1;
    std::string out;
    out.reserve(size);
    out += "{\"messages\":[";
    for (std::size_t i = 0; i < messages.size(); ++i) {
        if (i) out.push_back(',');
        out += messages[i]->envelope;
    }
    out += "],\"gaps\":[";
    for (std::size_t i = 0; i < gaps.size(); ++i) {
        if (i) out.push_back(',');
        out += protocol::encodeGap(gaps[i]);
    }
    out += "],\"cursor\":\"";
    out += cursor;  // cursor characters never need JSON escaping
    out += more ? "\",\"more\":true" : "\",\"more\":false";
    if (!refused.empty()) {
        out += ",\"refused\":[";
        for (std::size_t i = 0; i < refused.size(); ++i) {
            if (i) out.push_back(',');
            // {"channel":"x","error":{...}}: channel names need no escaping.
            std::string error = protocol::errorBody(refused[i].error.code, refused[i].error.message);
            out += "{\"channel\":\"" + refused[i].channel + "\"," + error.substr(1);
        }
        out += "]";
    }
    if (!client.empty()) out += ",\"client\":\"" + client + "\"";  // hex: no escaping
    out += "}";
    return out;
}

}  // namespace pushwire::server
