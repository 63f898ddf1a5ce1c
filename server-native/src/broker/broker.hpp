// The broker seam: where a channel's seq, history and cross-node fan-out come from.
//
// A channel is a stream of messages numbered 1, 2, 3... within one life of the stream,
// named by its epoch. The broker assigns seqs (atomically with storing the message),
// keeps the last messages of each channel as history, and tells this node what is
// published on the channels it follows, wherever it was published. Delivering to this
// process's connections is not its business: that is the Hub's (hub/hub.hpp), which
// follows the channels that have local subscribers.
//
// Implementations: MemoryBroker (embedded, one process, the default) and RedisBroker
// (several servers on one Redis share channels, seqs and history).
//
// Threading: every call and every callback happens on the loop thread. Asynchronous
// contract: an answer (publish's `done`, history's `done`) and an event may come later,
// or before the call returns (the memory broker answers at once): callers must not hold
// iterators across a call. Callbacks are never dropped: each `done` runs exactly once,
// also when the broker is unavailable (then with broker_unavailable) or destroyed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pushwire/protocol/envelope.hpp"
#include "pushwire/protocol/presence.hpp"
#include "pushwire/protocol/result.hpp"

namespace pushwire::server {

// One published message, immutable once made and shared by everyone who delivers it.
struct Message {
    std::string channel;
    std::uint64_t seq = 0;
    std::string epoch;  // the life of the channel's stream that numbered it
    std::int64_t timeMs = 0;
    std::string envelope;  // the serialized envelope, built once
    // A message, or a join/leave entry of a presence channel (docs/protocol.md, Presence):
    // then `envelope` is the entry, with `event` and `member` instead of `data`.
    protocol::EntryEvent event = protocol::EntryEvent::Message;
    // The answer to a publish that repeated an idempotency key: the message stored by the
    // first one (its seq and time; no envelope). Never delivered.
    bool repeated = false;
};
using MessagePtr = std::shared_ptr<const Message>;

// Where a channel's stream stands: its life and its last seq (0: nothing published in
// this life yet).
struct StreamHead {
    std::string epoch;
    std::uint64_t seq = 0;
};

// What a history read returns.
struct HistoryPage {
    StreamHead head;                   // the stream now
    std::vector<MessagePtr> messages;  // after the position asked for, in seq order
    std::optional<protocol::Gap> gap;  // messages no longer held between it and these
    bool more = false;                 // a limit stopped the page before the head
    bool epochChanged = false;         // the position's life is gone: `head` is a new one
};

struct HistoryQuery {
    std::string channel;
    std::uint64_t after = 0;  // deliver what follows this seq...
    std::string epoch;        // ...of this life (empty: the current one)
    std::size_t limit = 1000;
    std::size_t maxBytes = SIZE_MAX;  // of envelopes; at least one message whatever its size
};

// A page of the channels a broker holds (the server API's `channels`).
struct ChannelListQuery {
    // A channel pattern as in --public-subscribe: an exact name, or with `*` wildcards
    // (a Redis broker has Redis match it), and the same as a test (the memory broker).
    std::string pattern = "*";
    std::function<bool(std::string_view)> matches;  // empty: every channel
    std::string cursor;                             // "" the first page; else a page's `next`
    std::size_t limit = 100;
};
struct ChannelList {
    std::vector<std::string> channels;
    std::string next;  // the cursor of the next page; "" when this was the last
};

// What a broker counts, for /pushwire/metrics.
struct BrokerStats {
    std::uint64_t errors = 0;  // commands failed, connections lost
    std::uint64_t reconnects = 0;
    std::uint64_t filled = 0;    // publications read from history to fill a pub/sub hole
    std::uint64_t commands = 0;  // round trips answered
    double commandSecondsTotal = 0;
    std::uint64_t errorReplies = 0;  // commands Redis answered with an error (among `errors`)
};

// One part of a broker that spreads channels over several Redis (a shard, a cluster
// master), for /pushwire/healthz and the metrics' `shard` label.
struct BrokerPart {
    std::string name;  // "redis://host:port/db"
    std::string state;
    bool available = false;  // connected
    // Connected, but its recent commands fail (broker/command_health.hpp): `state` says
    // with what; its channels' publishes (or reads) fail as they would were it down.
    bool failing = false;
    BrokerStats stats;
};

// Events from the broker about the channels this node follows.
class BrokerEventHandler {
public:
    // The node follows `channel` from `head` on: every later publication comes through
    // onPublication. Called once after follow() takes effect, and again whenever the
    // stream starts a new life (flushed, evicted: a new epoch) or the broker lost track
    // of it (after a reconnect it could not fill from history).
    virtual void onFollow(const std::string& channel, const StreamHead& head) = 0;
    // A message of a followed channel, in seq order per channel, each once and without
    // holes after the head given by onFollow. May be called during publish().
    virtual void onPublication(const MessagePtr& message) = 0;
    // The broker became reachable or not (`why` says what failed).
    virtual void onAvailability(bool available, const std::string& why) = 0;

protected:
    ~BrokerEventHandler() = default;
};

class Broker {
public:
    virtual ~Broker() = default;

    // Set once, before anything else; it outlives the broker's calls into it.
    virtual void setHandler(BrokerEventHandler* handler) = 0;
    virtual void start() = 0;
    virtual void stop() = 0;

    // Appends a message to `channel`, assigning the next seq atomically with the append
    // (two nodes never assign the same seq), and answers with the message as stored. An
    // error says truthfully whether it may have been stored: broker_unavailable (or
    // overloaded) when it certainly was not (never sent to a remote broker);
    // publish_outcome_unknown when it was sent and no answer came (a timeout, a lost
    // connection). A message is never answered as stored and then lost.
    using PublishDone = std::function<void(protocol::Result<MessagePtr>)>;
    virtual void publish(const std::string& channel, std::string dataJson, std::int64_t timeMs, PublishDone done) = 0;
    // publish() with an idempotency key ("": none). When a message was stored with the key
    // on `channel` within the broker's idempotency window (on any node), nothing is stored
    // and `done` gets that message's seq and time (Message::repeated); the check and the
    // append are one atomic step. A broker without idempotency publishes as publish() does.
    virtual void publishOnce(const std::string& channel, std::string dataJson, std::int64_t timeMs,
                             const std::string& idempotencyKey, PublishDone done) {
        (void)idempotencyKey;
        publish(channel, std::move(dataJson), timeMs, std::move(done));
    }

    // What history holds after a position (and where the stream is now).
    using HistoryDone = std::function<void(protocol::Result<HistoryPage>)>;
    virtual void history(const HistoryQuery& query, HistoryDone done) = 0;

    // The channels the broker holds (a message in history, or followed by a node) whose
    // names match the query's pattern, a page at a time. Memory: by name, at most `limit`.
    // Redis: a SCAN of the channels' keys, about `limit` keys looked at per page (a page
    // may hold fewer, even none, with a `next`). A channel held for the whole walk is
    // listed at least once; one made or dropped meanwhile may or may not be.
    using ChannelListDone = std::function<void(protocol::Result<ChannelList>)>;
    // (A broker that cannot list, such as a test's scripted one, answers internal.)
    virtual void channels(const ChannelListQuery& query, ChannelListDone done) {
        (void)query;
        done(protocol::Error{protocol::ErrorCode::Internal, "this broker cannot list its channels"});
    }

    // Whether this node may follow `channel`: true when the broker holds it already or can
    // hold one more channel (making room as its limits say: the memory broker drops its
    // longest-idle channel without followers); false when it cannot, and then follow()
    // must not be called for it. The hub asks before it follows a channel it does not.
    virtual bool admit(const std::string& channel) {
        (void)channel;
        return true;
    }
    // This node wants (or no longer wants) the publications of `channel`: it has local
    // subscribers. onFollow answers a follow().
    virtual void follow(const std::string& channel) = 0;
    virtual void unfollow(const std::string& channel) = 0;

    // For /pushwire/healthz and the metrics. available(): reachable (some part is, over
    // several); healthy(): reachable and not failing (some part, over several): its recent
    // commands are not all refused by Redis (broker/command_health.hpp). healthz and
    // negotiate answer 503 unless healthy().
    virtual bool available() const = 0;
    virtual bool healthy() const { return available(); }
    virtual std::string describe() const = 0;  // "memory", "redis://host:port/db"
    virtual std::string state() const = 0;     // "ok", or what is wrong
    virtual BrokerStats stats() const { return {}; }
    // The shards or cluster masters of a broker made of several (each with its own
    // availability: one down makes only its channels answer broker_unavailable); empty
    // for a broker of one part.
    virtual std::vector<BrokerPart> parts() const { return {}; }
    // Whether history reads are cheap and local (the hub then keeps no copy of its own).
    virtual bool historyIsLocal() const = 0;
};

}  // namespace pushwire::server
