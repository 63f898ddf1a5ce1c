// One answer of the polling transports: a Feed whose messages and gaps are collected into
// one JSON body instead of being streamed. A poll answers as soon as its channels are
// replayed (or the answer is full); a long-poll, when the replay found nothing, waits for
// the first live message (answered on the next turn, with whatever else came in that
// turn) or its timeout.
//
//   {"messages":[envelopes],"gaps":[gaps],"cursor":"...","more":false}
//
// Threading: the loop thread. Owned by its connection (parked as its Attachment).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "front/http_connection.hpp"
#include "transports/context.hpp"
#include "transports/feed.hpp"

namespace pushwire::server {

class PollAnswer final : public Attachment, public FeedSink {
public:
    // `wait`: hold for a live message when there is nothing to answer yet (long-poll).
    PollAnswer(Context& context, TransportKind kind, HttpConnection& connection, bool wait);
    ~PollAnswer() override;

    void start(std::vector<FeedStart> starts) { feed_.add(std::move(starts)); }

    // FeedSink
    bool hasRoom() const override;
    bool overfull() const override { return !hasRoom(); }
    void waitForRoom() override { answer(true); }
    void feedReady(int) override {}
    void feedGap(const protocol::Gap& gap) override { gaps_.push_back(gap); }
    void feedMessage(const MessagePtr& message) override;
    void feedCaughtUp() override;
    void feedFailed(const protocol::Error& error) override;

    // Attachment
    void onTimeout() override { answer(false); }
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
    std::size_t bytes_ = 0;
    bool answered_ = false;
    bool answerPosted_ = false;
    bool detached_ = false;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// {"messages":[...],"gaps":[...],"cursor":"...","more":false}
std::string encodeBatch(const std::vector<MessagePtr>& messages, const std::vector<protocol::Gap>& gaps,
                        const std::string& cursor, bool more);

}  // namespace pushwire::server
