// The hub: channels, their sequence numbers, bounded history, fan-out and resume.
//
// Threading: a Hub belongs to one thread (the server's event loop) and is not locked.
// It knows nothing of HTTP or WebSocket: transports reach it through Subscriber and
// plain values, and tests drive it with strings.
//
// Re-entrancy contract: Subscriber::deliver is called during publish(); it may
// unsubscribe itself or others (the hub tolerates removal while fanning out), but it
// must not publish.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pushwire/protocol/cursor.hpp"
#include "pushwire/protocol/envelope.hpp"
#include "pushwire/protocol/result.hpp"

namespace pushwire::server {

struct Message {
    std::string channel;
    std::uint64_t seq = 0;
    std::int64_t timeMs = 0;
    std::string envelope;  // the serialized envelope, built once on publish
};
using MessagePtr = std::shared_ptr<const Message>;

class Subscriber {
public:
    virtual void deliver(const MessagePtr& message) = 0;

protected:
    ~Subscriber() = default;
};

// Where a subscription stands on one channel: everything after `after` in the stream
// whose life is `epoch` is still to be delivered. `epochGap` is set when the client's
// cursor came from an earlier life of the stream.
struct StartPoint {
    std::string channel;
    std::uint64_t after = 0;
    std::string epoch;
    std::optional<protocol::Gap> epochGap;
};

struct Backlog {
    std::vector<MessagePtr> messages;
    std::optional<protocol::Gap> gap;  // history no longer held between `after` and messages
    bool more = false;                 // a limit stopped the read before the channel's head
};

class Hub {
public:
    struct Options {
        std::size_t historySize = 1000;
        std::string epoch;                    // empty: a random one
        std::function<std::int64_t()> clock;  // ms since the Unix epoch; empty: system clock
    };

    explicit Hub(Options options);

    const std::string& epoch() const { return epoch_; }
    std::size_t historySize() const { return historySize_; }

    // Assigns the next seq of `channel`, stores the message and fans it out.
    protocol::Result<MessagePtr> publish(std::string_view channel, std::string dataJson);

    // Resolves where each channel of a request starts, given an optional client cursor
    // (bad_cursor when a positional cursor does not fit the channels). Linear.
    protocol::Result<std::vector<StartPoint>> resolve(const std::vector<std::string>& channels,
                                                      const protocol::Cursor* cursor) const;

    // Messages after `after` still held, at most `limit` of them and about `maxBytes` of
    // envelopes (always at least one), and the gap if some were evicted.
    Backlog readAfter(std::string_view channel, std::uint64_t after, std::size_t limit,
                      std::size_t maxBytes = SIZE_MAX) const;

    // Highest seq assigned on `channel` (0 if none).
    std::uint64_t head(std::string_view channel) const;

    void subscribe(std::string_view channel, Subscriber* subscriber);
    void unsubscribe(std::string_view channel, Subscriber* subscriber);

    std::size_t channelCount() const { return channels_.size(); }
    std::uint64_t publishedCount() const { return published_; }

private:
    struct Channel {
        std::uint64_t lastSeq = 0;
        std::deque<MessagePtr> history;
        std::vector<Subscriber*> subscribers;
        int fanningOut = 0;
        bool hasHoles = false;  // unsubscribed during fan-out: compact afterwards
    };

    Channel& channel(std::string_view name);
    const Channel* find(std::string_view name) const;
    std::int64_t now() const;

    std::size_t historySize_;
    std::string epoch_;
    std::function<std::int64_t()> clock_;
    std::map<std::string, Channel, std::less<>> channels_;
    std::uint64_t published_ = 0;
};

// A fresh random epoch: 16 lowercase hex digits.
std::string randomEpoch();

}  // namespace pushwire::server
