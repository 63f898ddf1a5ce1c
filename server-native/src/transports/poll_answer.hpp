// One answer of the polling transports: a Feed whose messages and gaps are collected into
// one JSON body instead of being streamed. A poll answers as soon as its channels are
// replayed (or the answer is full); a long-poll, when the replay found nothing and no
// channel was refused, waits for the first live message (answered on the next turn, with
// whatever else came in that turn) or its timeout. A refused channel is answered at once.
//
//   {"messages":[envelopes],"gaps":[gaps],"cursor":"...","more":false}
//
// Threading: the loop thread. Owned by its connection (parked as its Attachment).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "front/http_connection.hpp"
#include "pushwire/protocol/frames.hpp"
#include "transports/context.hpp"
#include "transports/feed.hpp"

namespace pushwire::server {

class PollAnswer final : public Attachment, public FeedSink, public ControlledSession {
public:
    // `wait`: hold for a live message when there is nothing to answer yet (long-poll).
    PollAnswer(Context& context, TransportKind kind, HttpConnection& connection, bool wait);
    ~PollAnswer() override;

    // `refused`: channels of the request the caller may not read, reported in the answer.
    // `client`: the answer's client id; `member`, when the client has a session: its
    // presence memberships, which last `linger` after the answer.
    void start(std::vector<FeedStart> starts, std::vector<protocol::Refusal> refused, std::string client,
               std::optional<protocol::Member> member, std::chrono::milliseconds linger);
    // Listed in the session registry under `caller`'s user while it waits; `unsubscribed`
    // and `subscribed` (by the backend) are named in the answer.
    void control(const Caller& caller, std::vector<std::string> unsubscribed, std::vector<std::string> subscribed);

    // ControlledSession: a waiting poll answers at once (its poller is what the backend marks).
    void disconnectByServer(bool reconnect) override;
    void revokeByServer() override;
    const std::string& clientId() const override { return client_; }
    std::int64_t tokenIssuedAt() const override { return issuedAt_; }
    bool unsubscribeByServer(const std::string& channel) override;
    bool subscribeByServer(const std::string& channel) override;
    bool polling() const override { return true; }

    // FeedSink
    bool hasRoom() const override;
    bool overfull() const override { return !hasRoom(); }
    void waitForRoom() override { answer(true); }
    void feedRefused(int, const std::string& channel, const protocol::Error& error) override;
    void feedReady(int) override {}
    void feedGap(const protocol::Gap& gap) override { gaps_.push_back(gap); }
    void feedMessage(const MessagePtr& message) override;
    void feedCaughtUp() override;
    void feedFailed(const protocol::Error& error) override;

    // Attachment
    void onTimeout() override;
    void expiresAt(std::int64_t ms) { expiresAtMs_ = ms; }
    void onClose() override { detach(); }

private:
    void answer(bool more);
    void detach();

    Context& context_;
    TransportKind kind_;
    HttpConnection& connection_;
    bool wait_;
    Feed feed_;
    std::vector<MessagePtr> messages_;
    std::vector<protocol::Gap> gaps_;
    std::vector<protocol::Refusal> refused_;
    std::string user_;  // listed in the session registry under it ("": not listed)
    std::int64_t issuedAt_ = 0;
    std::vector<std::string> unsubscribed_;  // by the backend
    std::vector<std::string> subscribed_;
    std::string client_;
    std::size_t bytes_ = 0;
    std::int64_t expiresAtMs_ = 0;
    bool answered_ = false;
    bool answerPosted_ = false;
    bool detached_ = false;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// {"messages":[...],"gaps":[...],"cursor":"...","more":false,"refused":[...],"client":"..."}
// (`client` omitted when empty)
std::string encodeBatch(const std::vector<MessagePtr>& messages, const std::vector<protocol::Gap>& gaps,
                        const std::string& cursor, bool more, const std::vector<protocol::Refusal>& refused = {},
                        const std::string& client = {});
// The channels the backend unsubscribed and subscribed, added to an answer's object:
// ..."unsubscribed":["a"],"subscribed":["b"]} (none: nothing added).
void appendServerChanges(std::string& body, const std::vector<std::string>& unsubscribed,
                         const std::vector<std::string>& subscribed);

}  // namespace pushwire::server
