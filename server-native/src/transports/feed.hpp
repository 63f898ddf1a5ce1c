// One subscriber's stream of several channels, each from its own position: it replays
// what the hub still holds after the position, as fast as the connection takes it, then
// delivers live. Pacing is the point: a client any distance behind catches up on
// everything the server holds (nothing is queued whole), and a live reader that falls
// behind drops back to replaying instead of piling up bytes until it is cut off.
//
//   catching up ──(read to the channel's head)──▶ live ──(sink overfull)──▶ catching up
//
// The hub is single-threaded and synchronous: the last read and the subscribe happen in
// one turn, so nothing is missed or repeated between them.
//
// Threading: the loop thread. Lifetime: owned by its transport session; unsubscribes
// from the hub when destroyed.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "hub/hub.hpp"
#include "pushwire/protocol/envelope.hpp"
#include "transports/context.hpp"

namespace pushwire::server {

// Where a Feed writes: a transport's encoding of messages and gaps onto its connection.
class FeedSink {
public:
    // There is room for more replayed messages (the connection's queue is low).
    virtual bool hasRoom() const = 0;
    // Live delivery has outrun the reader: the feed drops back to replaying.
    virtual bool overfull() const = 0;
    // Call Feed::pump() once there is room again.
    virtual void waitForRoom() = 0;
    // The feed's positions already include what is being written.
    virtual void feedGap(const protocol::Gap& gap) = 0;
    virtual void feedMessage(const MessagePtr& message) = 0;

protected:
    ~FeedSink() = default;
};

class Feed final : public Subscriber {
public:
    Feed(Context& context, FeedSink& sink) : context_(context), sink_(sink) {}
    ~Feed();
    Feed(const Feed&) = delete;
    Feed& operator=(const Feed&) = delete;

    // Starts these channels (not in the feed yet) from their points: their epoch gaps,
    // then what history holds, then live.
    void add(std::vector<StartPoint> points);
    void remove(const std::vector<std::string>& channels);
    // Replays more, as long as the sink has room.
    void pump();
    // Stops for good (the connection is closing).
    void stop();

    const std::vector<StartPoint>& points() const { return points_; }
    bool has(std::string_view channel) const { return indexOf(channel) != kNone; }
    std::size_t size() const { return points_.size(); }
    // The position of every channel, as a cursor.
    std::string cursor() const;

    void deliver(const MessagePtr& message) override;

private:
    static constexpr std::size_t kNone = static_cast<std::size_t>(-1);
    std::size_t indexOf(std::string_view channel) const;
    void reindex();
    void goLive(std::size_t index);
    void fallBehind();

    Context& context_;
    FeedSink& sink_;
    std::vector<StartPoint> points_;
    std::vector<bool> live_;                                        // by index: subscribed to the hub
    std::vector<std::pair<std::string_view, std::size_t>> sorted_;  // channel -> index, by name
    std::size_t catchingUp_ = 0;                                    // channels not live yet
    bool pumping_ = false;
    bool stopped_ = false;
};

}  // namespace pushwire::server
