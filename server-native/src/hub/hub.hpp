// The hub: this process's side of every channel. It publishes through the broker, follows
// the channels that have local listeners, and fans each publication out to them; it
// answers history reads from the messages it saw go by when they cover the read, else
// from the broker. It knows no transport: listeners are plain interfaces, and tests drive
// it with strings.
//
// One path each: every transport publishes with publish() and subscribes through a Feed
// (transports/feed.hpp) that joins the hub.
//
// Threading: a Hub belongs to the loop thread and is not locked. Re-entrancy contract:
// Listener::onMessage is called during a fan-out; it may leave (itself or others) and
// join, but it must not publish.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/broker.hpp"
#include "pushwire/protocol/result.hpp"

namespace pushwire::server {

class Hub final : public BrokerEventHandler {
public:
    struct Options {
        // Messages kept per followed channel to answer reads without the broker (0 when
        // the broker's own history is local).
        std::size_t recentWindow = 0;
        std::string epoch;                    // this process's life (negotiate, welcome)
        std::function<std::int64_t()> clock;  // ms since the Unix epoch; empty: system clock
        // A channel whose last listener left stays followed this long (sweep() lets it
        // go): a poller's next request finds it followed and its messages at hand.
        std::int64_t followLingerMs = 0;
        // Channels followed at most (0: no limit): past it a join of a new channel lets the
        // longest-lingering one go, and with none lingering it is refused (overloaded).
        std::size_t maxChannels = 0;
    };

    class Listener {
    public:
        // The node follows `channel` again from `head` (a new life of the stream, or the
        // broker lost track of it). Not called during join(): after joining, look at
        // head().
        virtual void onFollow(const std::string& channel, const StreamHead& head) = 0;
        // A live message, each once, in seq order per channel.
        virtual void onMessage(const MessagePtr& message) = 0;

    protected:
        ~Listener() = default;
    };

    Hub(Broker& broker, Options options);
    ~Hub();
    Hub(const Hub&) = delete;
    Hub& operator=(const Hub&) = delete;

    // Validates the channel name and publishes; `done` gets the stored message or the
    // error (bad_channel, overloaded, broker_unavailable, publish_outcome_unknown).
    void publish(std::string_view channel, std::string dataJson, Broker::PublishDone done);
    // With an idempotency key ("": none): see Broker::publishOnce.
    void publish(std::string_view channel, std::string dataJson, const std::string& idempotencyKey,
                 Broker::PublishDone done);

    // The hub follows a channel while it has listeners. Nullopt when joined; overloaded
    // (and nothing joined) when the channel is new and neither this node (maxChannels) nor
    // the broker (Broker::admit) can take one more.
    std::optional<protocol::Error> join(std::string_view channel, Listener* listener);
    void leave(std::string_view channel, Listener* listener);
    // Where the channel stands, once the node follows it; none until then. A publish this
    // node answered counts even before its delivery comes back (Channel::ackedSeq).
    std::optional<StreamHead> head(std::string_view channel) const;
    // Stops following the channels without listeners for longer than the linger.
    void sweep();

    // What follows a position: from the messages this node saw go by when they cover it
    // (`done` then runs before read() returns), else from the broker.
    void read(const HistoryQuery& query, Broker::HistoryDone done);

    // BrokerEventHandler
    void onFollow(const std::string& channel, const StreamHead& head) override;
    void onPublication(const MessagePtr& message) override;
    void onAvailability(bool available, const std::string& why) override;

    const std::string& epoch() const { return epoch_; }
    Broker& broker() { return broker_; }
    std::size_t channelCount() const { return channels_.size(); }
    std::size_t listenerCount() const { return listeners_; }  // joins not yet left
    // Joins of a new channel refused at this node's limit (the broker's refusals are its own).
    std::uint64_t refusedJoins() const { return refusedJoins_; }
    std::uint64_t publishedCount() const { return published_; }
    // Publishes that repeated an idempotency key: answered, nothing stored.
    std::uint64_t repeatedCount() const { return repeated_; }

    // Publish to write: from a message's publish time (its `time`, set where it was
    // published) to its bytes queued on this node's last subscriber connection, per
    // message with local subscribers. Prometheus buckets, in seconds.
    static constexpr double kLatencyBuckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
    static constexpr std::size_t kLatencyBucketCount = sizeof(kLatencyBuckets) / sizeof(kLatencyBuckets[0]);
    struct LatencyHistogram {
        std::uint64_t counts[kLatencyBucketCount + 1] = {};  // the last: above every bucket
        std::uint64_t count = 0;
        double sumSeconds = 0;
    };
    const LatencyHistogram& publishToWrite() const { return publishToWrite_; }

private:
    struct Channel;
    using Channels = std::map<std::string, Channel, std::less<>>;
    struct Channel {
        std::vector<Listener*> listeners;
        int fanningOut = 0;
        bool hasHoles = false;  // listeners left during a fan-out: compact afterwards
        bool synced = false;    // the broker said where the stream stands
        StreamHead head;
        std::deque<MessagePtr> recent;  // contiguous, ending at head.seq
        // The last publish this node acknowledged on the channel while the window had not
        // caught up with it (ackedSeq 0: none): until it has, reads go to the broker, so a
        // publisher that reads history after its publish's answer finds it there.
        std::uint64_t ackedSeq = 0;
        std::string ackedEpoch;
        // The window's head has reached (epoch, seq).
        bool holds(const std::string& epoch, std::uint64_t seq) const {
            return synced && head.epoch == epoch && head.seq >= seq;
        }
        std::int64_t idleSinceMs = -1;                      // when the last listener left (-1: has listeners)
        std::list<Channels::iterator>::iterator lingering;  // its place in lingering_ (idle only)
    };

    Channel* find(std::string_view name);
    const Channel* find(std::string_view name) const;
    std::int64_t now() const;
    template <typename Visit>
    void forEachListener(Channel& channel, Visit visit);
    // The channel has no listeners left: let it go now, or after the linger.
    void released(Channels::iterator it);
    // Stops following the channel and forgets it.
    void unfollow(Channels::iterator it);
    // Whether `name` may be followed (`toFollow`: as a new channel of this node) or
    // published: within this node's limit and the broker's, letting lingering channels
    // go, the longest-idle first, to make room.
    bool makeRoom(const std::string& name, bool toFollow);
    // A publish answered: reads wait for the window to hold it (Channel::ackedSeq).
    void noteAcknowledged(const Message& message);

    Broker& broker_;
    std::size_t recentWindow_;
    std::string epoch_;
    std::function<std::int64_t()> clock_;
    std::int64_t followLingerMs_;
    std::size_t maxChannels_;
    Channels channels_;                        // the followed ones
    std::list<Channels::iterator> lingering_;  // followed without listeners, longest first
    std::uint64_t refusedJoins_ = 0;
    std::size_t listeners_ = 0;
    std::uint64_t published_ = 0;
    std::uint64_t repeated_ = 0;
    LatencyHistogram publishToWrite_;
    std::string joining_;  // the channel being joined: its first onFollow notifies nobody
};

}  // namespace pushwire::server
