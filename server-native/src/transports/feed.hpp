// The one path by which a client subscribes, on every transport: a stream of several
// channels, each from its own position. For each channel it
//   1. waits until this node follows the channel, and pins "from now" at its head (or
//      reports that the client's position belongs to a life of the stream that is gone);
//   2. replays what history holds after the position, as fast as the connection takes
//      it (reads may answer later: a remote broker);
//   3. delivers live, and drops back to replaying when the reader falls a megabyte
//      behind, or when the node loses track of the stream.
// Live messages that arrive while a channel replays are not needed: the replay reads
// them, so nothing is buffered and nothing is missed or repeated (positions are seqs).
//
// On presence channels (--presence) the feed's subscriptions are memberships of the
// member setMember() names: held while subscribed, released when removed (at once) or
// when the feed stops (after the linger its transport gives).
//
// SSE and WebSocket write what it feeds as it comes; poll and long-poll collect it into
// one answer (transports/poll_answer.hpp).
//
// Threading: the loop thread. Lifetime: owned by its transport session; leaves the hub
// when destroyed; a read still in flight then finds it gone and does nothing.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hub/hub.hpp"
#include "pushwire/protocol/cursor.hpp"
#include "pushwire/protocol/envelope.hpp"
#include "pushwire/protocol/presence.hpp"
#include "transports/context.hpp"

namespace pushwire::server {

// Where a subscription starts on one channel.
struct FeedStart {
    std::string channel;
    std::optional<protocol::StreamPosition> from;  // nullopt: from now
};

// The start of each channel of a request, from its cursor (bad_cursor when a cursor by
// place does not fit the channels).
protocol::Result<std::vector<FeedStart>> feedStarts(const std::vector<std::string>& channels,
                                                    const protocol::Cursor* cursor);

// Where a Feed writes: a transport's encoding of messages and gaps onto its connection.
class FeedSink {
public:
    // There is room for more replayed messages (the connection's queue is low).
    virtual bool hasRoom() const = 0;
    // Live delivery has outrun the reader: the feed drops back to replaying.
    virtual bool overfull() const = 0;
    // Call Feed::pump() once there is room again.
    virtual void waitForRoom() = 0;
    // A channel of the add() numbered `batch` could not be subscribed (the server holds
    // its maximum of channels): it is not in the feed. Called during add(), before
    // feedReady() of that batch; the other channels go on.
    virtual void feedRefused(int batch, const std::string& channel, const protocol::Error& error) = 0;
    // Every channel of the add() numbered `batch` has its position now (cursorOf() is
    // meaningful for them); called before anything of those channels is fed.
    virtual void feedReady(int batch) = 0;
    // The feed's positions already include what is being fed.
    virtual void feedGap(const protocol::Gap& gap) = 0;
    virtual void feedMessage(const MessagePtr& message) = 0;
    // Every channel is live: nothing more to replay now.
    virtual void feedCaughtUp() {}
    // The broker could not answer a read; the feed stops.
    virtual void feedFailed(const protocol::Error& error) = 0;

protected:
    ~FeedSink() = default;
};

class Feed final : public Hub::Listener {
public:
    Feed(Context& context, FeedSink& sink);
    ~Feed();
    Feed(const Feed&) = delete;
    Feed& operator=(const Feed&) = delete;

    // Adds channels (a channel already in the feed starts over from its new start);
    // returns the batch number feedReady() will name.
    int add(std::vector<FeedStart> starts);
    // The number the next add() will return.
    int nextBatch() const { return nextBatch_; }
    void remove(const std::vector<std::string>& channels);
    // Replays more, as long as the sink has room.
    void pump();
    // Stops for good (the connection is closing): leaves the hub, feeds nothing more.
    void stop();
    // The member this feed's presence subscriptions make (call before add()); when the
    // feed stops, its memberships end after `linger`. Without it: no membership.
    void setMember(protocol::Member member, std::chrono::milliseconds linger) {
        member_ = std::move(member);
        linger_ = linger;
    }

    bool has(std::string_view channel) const { return indexOf(channel) != kNone; }
    std::size_t size() const { return entries_.size(); }
    std::vector<std::string> channels() const {
        std::vector<std::string> out;
        for (const Entry& entry : entries_) out.push_back(entry.channel);
        return out;
    }
    // Every channel is live.
    bool caughtUp() const { return replaying_ == 0 && waiting_ == 0; }
    // The position of every channel, or of these, as a cursor.
    std::string cursor() const;
    // Cursors name every channel: the feed's channels are not the request's (some were
    // refused), so a cursor by place would not fit it.
    void nameChannels() { byPlace_ = false; }
    std::string cursorOf(const std::vector<std::string>& channels) const;
    // For a single-channel feed: its channel's epoch.
    const std::string& firstEpoch() const { return entries_.front().epoch; }

    // Hub::Listener
    void onFollow(const std::string& channel, const StreamHead& head) override;
    void onMessage(const MessagePtr& message) override;

private:
    enum class State { Waiting, Replaying, Live };
    struct Entry {
        std::string channel;
        std::optional<protocol::StreamPosition> from;  // until the position is pinned
        std::uint64_t after = 0;
        std::string epoch;
        State state = State::Waiting;
        int batch = 0;
        std::uint64_t generation = 0;  // a newer entry for the channel ignores older reads
        std::optional<protocol::Gap> pendingGap;
        bool member = false;  // holds a presence membership
    };
    static constexpr std::size_t kNone = static_cast<std::size_t>(-1);

    std::size_t indexOf(std::string_view channel) const;
    // `keepMembership`: the channel is subscribed again at once, still a member.
    void removeChannels(const std::vector<std::string>& channels, bool keepMembership);
    void holdMembership(Entry& entry);
    void releaseMembership(const Entry& entry, std::chrono::milliseconds linger);
    void reindex();
    void resolve(Entry& entry, const StreamHead& head);
    void setState(Entry& entry, State state);
    void announceReady();
    void startRead(Entry& entry);
    void onPage(const std::string& channel, std::uint64_t generation, protocol::Result<HistoryPage> result);
    void restartLife(Entry& entry, const std::string& epoch);
    void fallBehind();
    void checkCaughtUp();

    Context& context_;
    FeedSink& sink_;
    std::vector<Entry> entries_;
    std::vector<std::pair<std::string_view, std::size_t>> sorted_;  // channel -> index, by name
    std::vector<int> pendingBatches_;                               // added, not yet announced
    std::size_t waiting_ = 0;
    std::size_t replaying_ = 0;
    std::size_t nextRead_ = 0;  // round-robin over replaying channels
    int nextBatch_ = 1;
    std::uint64_t nextGeneration_ = 1;
    bool readInFlight_ = false;
    bool pumping_ = false;
    bool stopped_ = false;
    bool reportedCaughtUp_ = false;
    bool byPlace_ = true;
    std::optional<protocol::Member> member_;
    std::chrono::milliseconds linger_{0};
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace pushwire::server
