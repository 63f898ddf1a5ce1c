// The client's brain: connection state machine, transport choice and fallback,
// subscriptions and each channel's last delivered seq, exactly-once in-order delivery,
// explicit gaps, publishing, reconnect with backoff and dead-link detection.
//
// It runs the same natively (Catch2, fake platform, fake transports) and in the browser.
// Threading: single-threaded. Every user callback may call back into the core
// (subscribe, unsubscribe, publish, close): the core never holds an iterator across one.
// Lifetimes: transports are owned here and destroyed on a later turn, never inside
// their own callbacks.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/backoff.hpp"
#include "core/platform.hpp"
#include "core/transport.hpp"
#include "pushwire/liveness.hpp"
#include "pushwire/types.hpp"

namespace pushwire::client {

// A protocol error as the API's Error ({code name, message}).
Error toError(const protocol::Error& error);

class ClientCore final : public TransportListener {
public:
    // `urls`: the servers to use, in order of preference; on one that is unreachable (or
    // whose transport no longer opens) the client moves to the next and resumes there.
    ClientCore(Platform& platform, std::vector<TransportInfo> registry, std::vector<std::string> urls,
               ClientOptions options);
    ~ClientCore();
    ClientCore(const ClientCore&) = delete;
    ClientCore& operator=(const ClientCore&) = delete;

    void start();

    // Returns the subscription id, or 0 with `error` filled when the name is invalid. A
    // `since` that is not a position of the channel: the subscription reads from now, and
    // `error` says why (bad_cursor) with the id returned.
    int subscribe(const std::string& channel, MessageHandler onMessage, SubscribeOptions options, Error* error);
    void unsubscribe(int subscriptionId);
    // The id subscribe() returns if it succeeds (so that handlers made before the call can
    // name their subscription).
    int nextSubscriptionId() const { return nextSubscription_; }
    // The subscription's channel's position as a cursor ("" while unknown).
    std::string position(int subscriptionId) const;
    void publish(const std::string& channel, const std::string& dataJson, PublishCallback done);
    // The subscription's channel's members (or, `statsOnly`, its numbers), asked of the
    // server: in-band on a WebSocket, else GET /pushwire/presence. Exactly one of answer
    // and error is set.
    using PresenceDone = Callback<void(const protocol::PresenceAnswer* answer, const Error* error)>;
    void presence(int subscriptionId, bool statsOnly, PresenceDone done);
    // The server's id for this client as members show it ("" until a transport said it).
    const std::string& clientId() const { return clientId_; }
    void onStateChange(StateHandler handler);
    void close();
    // Stops without closing: the transport and timers go, subscriptions and positions
    // stay (State::Disconnected); connect() resumes from them. Both do nothing when there
    // is nothing to do.
    void disconnect();
    void connect();
    // The token in hand while it has not expired ("" otherwise), for the application's
    // own requests (history).
    std::string currentToken() const;
    // Called with a subscription's id once the server serves it on this connection (its
    // position known): the JS API's sub.state "subscribed".
    void onSubscribed(Callback<void(int)> handler) { subscribed_ = std::move(handler); }
    // The reconnect delays, as sentences, for the JS `debug` option (which tells the rest
    // from the states). Nothing is built without a handler.
    void onDebug(Callback<void(const std::string&)> handler) { debug_ = std::move(handler); }
    // The backend's server API (docs/api.md): a channel it subscribed this client to (read
    // from then on, resumed across reconnects like the application's), the messages of
    // such channels, and a channel it took away (its subscriptions end: `ended` is told
    // each, with the reason).
    void onServerSubscribe(Callback<void(const std::string&)> handler) { serverSubscribed_ = std::move(handler); }
    void onServerMessage(Callback<void(const Message&)> handler) { serverMessage_ = std::move(handler); }
    void onServerUnsubscribe(Callback<void(const std::string&)> handler) { serverUnsubscribed_ = std::move(handler); }
    void onEnded(Callback<void(int, const std::string&)> handler) { ended_ = std::move(handler); }
    bool hasSubscription(int subscriptionId) const { return subscriptions_.count(subscriptionId) != 0; }

    // Hints from the page: the network is back / the page is visible again. A waiting
    // reconnect happens now instead of after its backoff.
    void reconnectNowHint();

    // Ends when this core is destroyed: for what may outlive it (a Subscription).
    const Liveness& liveness() const { return alive_; }
    State state() const { return state_; }
    std::string stateReason() const { return stateReason_; }
    // The transport in use now (Auto while none is).
    pushwire::Transport transport() const;
    // The server in use now.
    const std::string& server() const { return baseUrl_; }
    // What each candidate said when "auto" tried it, for error messages.
    const std::string& fallbackLog() const { return fallbackLog_; }

    // TransportListener
    void transportOpened(int generation) override;
    void transportCursor(int generation, const std::string& cursor, const std::vector<std::string>& channels) override;
    void transportMessage(int generation, const protocol::Envelope& message) override;
    void transportGap(int generation, const protocol::Gap& gap) override;
    void transportAck(int generation, const std::string& idJson, std::uint64_t seq) override;
    void transportRequestError(int generation, const std::string& idJson, const protocol::Error& error,
                               const std::string& channel) override;
    void transportActivity(int generation) override;
    void transportClientId(int generation, const std::string& clientId) override;
    void transportPresence(int generation, const std::string& idJson, const protocol::PresenceAnswer& answer) override;
    void transportClosed(int generation, const protocol::Error& reason) override;
    void transportServerSubscribed(int generation, const std::vector<std::string>& channels) override;
    void transportServerUnsubscribed(int generation, const std::vector<std::string>& channels) override;
    void transportDisconnected(int generation, bool reconnect) override;
    std::vector<std::string> channels() const override;
    std::string resumeCursor(const std::vector<std::string>& channels) const override;

private:
    // A publish of the application's: its idempotency key (the same on every attempt, so
    // the server stores it once) and the attempts made so far.
    struct OutgoingPublish {
        std::string channel;
        std::string dataJson;
        std::string key;
        int attempt = 0;
        PublishCallback done;
    };
    struct HeldPublish {
        OutgoingPublish publish;
        std::int64_t sinceMs;
    };
    // The member set of a channel that subscriptions with onJoin/onLeave watch (see
    // client_presence.cpp): a snapshot of the server's, then the join and leave entries
    // that follow it in the stream.
    struct PresenceTrack {
        std::map<std::string, Member> members;  // by client id: what the synced subscriptions know
        bool syncing = false;                   // a snapshot is due or in flight: entries wait
        int request = 0;                        // the snapshot in flight (0: none)
        std::vector<protocol::Envelope> held;   // join/leave entries that arrived while syncing
        // The channel's position at the last snapshot: entries at or before it are in it.
        std::optional<std::uint64_t> snapshotSeq;
        bool unavailable = false;  // the server refused the snapshot: entries apply as they come
        int failures = 0;          // snapshots failed in a row (backoff)
        TimerId retryTimer = 0;
    };
    struct ChannelState {
        std::optional<std::uint64_t> position;  // last delivered seq; empty: "from now"
        std::string epoch;                      // the life of the channel's stream; empty: unknown
        std::vector<int> subscriptions;
        // This client's publishes to the channel made while its "from now" position is
        // still unknown: they wait for it (see publish()).
        std::vector<HeldPublish> held;
        PresenceTrack presence;
        bool byServer = false;  // the backend subscribed this client (read with no subscription)
    };
    struct SubscriptionEntry {
        std::string channel;
        MessageHandler onMessage;
        SubscribeOptions options;
        bool served = false;          // on this connection (onSubscribed told)
        bool presenceSynced = false;  // has been told the member set (onJoin for each)
        bool watchesPresence() const { return options.onJoin || options.onLeave; }
    };
    // A presence query: the application's, or a snapshot of a watched channel.
    struct PresenceQuery {
        std::string channel;
        bool statsOnly = false;
        PresenceDone done;
    };

    void setState(State state, const std::string& reason);
    // Runs `then` once a token is in hand (at once without getToken, or with a token
    // still good); `force`: a new one even so (the server refused the one we have).
    void withToken(bool force, Callback<void()> then);
    void tokenArrived(const std::string& token);
    void scheduleTokenRefresh();
    // The server refused the token: every subscription hears it once, the state says
    // why; a new token (getToken) and a reconnect at once the first time, then with the
    // backoff, on the same transport (a token is not the transport's fault).
    bool recoverFromAuthFailure(const protocol::Error& reason);
    // Once per refusal episode (until the server accepts a token again).
    void tellAuthRefusal(const Error& error);
    // The server served the connection's channels (a cursor): the token is good.
    void served(const std::vector<std::string>& channels);
    // The server refused this channel: its subscriptions are told and end.
    void refuseChannel(const std::string& channel, const protocol::Error& error);
    // The channel goes, and its subscriptions with it (removed; returned for telling).
    std::vector<std::pair<int, SubscriptionEntry>> dropChannel(const std::string& channel);
    // Stops for good (state closed, `reason`): close(), or the server said so.
    void stop(const std::string& reason);
    // Moves to the next server of the list (forgetting what worked on this one); false
    // when every server was tried since the last success.
    bool nextServer();
    void negotiate();
    void onNegotiated(const HttpResponse& response);
    void connectCandidate();
    // The current transport goes (retired, its timers and unacknowledged publishes with it).
    void dropTransport();
    void failTransport(const std::string& reason);
    // An error not tied to a channel or a publish: every subscription's onError.
    void tellEverySubscription(const Error& error);
    void scheduleReconnect(const std::string& reason);
    void reconnect();
    void retire(std::unique_ptr<Transport> transport);
    // Watches the current transport for silence from now on (it has just opened).
    void armDeadLinkTimer();
    void waitForSilence(int delayMs);
    void emitGap(const std::string& channel, const Gap& gap);
    // Presence (client_presence.cpp).
    void sendPresenceQuery(PresenceQuery query);
    void presenceOverHttp(PresenceQuery query, bool retried = false);
    // Queries in flight on a transport that goes: asked again by HTTP (`fail`: failed).
    void movePresenceQueries(bool fail);
    bool watchesPresence(const std::string& channel) const;
    // The channel's member set needs a snapshot (a subscription started watching, a
    // reconnect, a gap): entries wait from now until it is in.
    void needPresenceSnapshot(const std::string& channel);
    // Asks for the snapshot when one is due and none is in flight, once the channel's
    // position is known (a snapshot older than where the stream starts would miss the
    // entries in between).
    void startPresenceSnapshot(const std::string& channel);
    void presenceSnapshotAnswered(const std::string& channel, int request, const protocol::PresenceAnswer* answer,
                                  const Error* error);
    // A join or leave entry in seq order: held while syncing, else applied.
    void presenceEntry(const std::string& channel, const protocol::Envelope& entry);
    void applyPresenceEntry(const std::string& channel, const protocol::Envelope& entry);
    // Tells the change to the subscriptions of `channel` that know the set (or only `ids`).
    void emitMember(const std::string& channel, bool joined, const Member& member,
                    const std::vector<int>* ids = nullptr);
    void stopPresence(PresenceTrack& track);
    void failPendingPublishes(const std::string& message);
    // Sends a publish (the checks of publish() done): over the WebSocket when one is open,
    // else over HTTP.
    void sendPublish(OutgoingPublish publish);
    // What an attempt's answer does: the seq or a final error to the application, or,
    // when the publish may not be stored, another attempt with the same key after a
    // backoff (kPublishAttempts in all).
    PublishCallback answerOf(OutgoingPublish publish);
    static constexpr int kPublishAttempts = 6;
    // The channel's position is known now: its held publishes go.
    void releaseHeld(const std::string& channel);
    // Held publishes that waited kHoldPublishesMs go anyway (no server answers with the
    // position); the timer is armed again for the next one.
    void releaseOverdueHeld();
    // Fails the publishes held and those waiting to be sent again: the client is closed.
    void failHeldPublishes();
    static constexpr int kHoldPublishesMs = 10000;
    void publishOverHttp(std::string body, PublishCallback done, bool retried = false);
    bool isCurrent(int generation) const { return transport_ && generation == generation_; }
    bool isProbe(int generation) const { return probe_ && generation == probeGeneration_; }
    std::unique_ptr<Transport> createTransport(std::size_t candidate, int generation);
    int openTimeoutMs(std::size_t candidate) const;
    void settle();
    void scheduleUpgrade();
    void startProbe(std::size_t candidate);
    void probeFailed();
    void promoteProbe();
    void stopProbing();
    const TransportInfo* currentInfo() const;
    void cancelTimer(TimerId& id);

    Platform& platform_;
    std::vector<TransportInfo> registry_;
    std::vector<std::string> urls_;
    std::size_t server_ = 0;        // urls_[server_] is in use
    std::size_t serversTried_ = 1;  // since the last transport that opened
    std::string baseUrl_;
    ClientOptions options_;
    Backoff backoff_;

    State state_ = State::Connecting;
    std::string stateReason_;
    std::vector<StateHandler> stateHandlers_;

    std::map<std::string, ChannelState> channels_;
    std::map<int, SubscriptionEntry> subscriptions_;
    int nextSubscription_ = 1;

    // From negotiate.
    bool negotiated_ = false;
    std::string websocketUrl_;
    int heartbeatMs_ = 10000;
    std::uint64_t maxMessageBytes_ = 0;    // 0: not known yet
    std::vector<std::size_t> candidates_;  // indexes into registry_, in fallback order
    std::size_t candidate_ = 0;
    std::optional<std::size_t> settled_;  // the candidate that delivered
    std::string fallbackLog_;

    std::unique_ptr<Transport> transport_;
    std::vector<std::unique_ptr<Transport>> retired_;
    int generation_ = 0;  // the current transport's
    int nextGeneration_ = 0;
    bool opened_ = false;
    int activityAfterOpen_ = 0;
    std::int64_t lastActivityMs_ = 0;  // platform_.monotonicMs() of the last frame or heartbeat
    int strikes_ = 0;                  // opened, then failed with no traffic at all: twice and "auto" moves on

    // Background upgrade: a better transport tried while the current one works.
    std::unique_ptr<Transport> probe_;
    int probeGeneration_ = 0;
    std::size_t probeCandidate_ = 0;
    TimerId upgradeTimer_ = 0;
    TimerId probeTimer_ = 0;
    RequestId negotiateRequest_ = 0;
    TimerId reconnectTimer_ = 0;
    TimerId connectTimer_ = 0;
    TimerId deadLinkTimer_ = 0;
    TimerId reapTimer_ = 0;
    TimerId stableTimer_ = 0;  // the backoff starts over once a transport stays up this long
    TimerId heldTimer_ = 0;    // held publishes wait at most this long (no server to tell the position)

    // Tokens (options_.getToken).
    std::string token_;
    std::int64_t tokenExpiresMs_ = 0;  // 0: unknown (not a JWT with exp)
    bool fetchingToken_ = false;
    int tokenRequest_ = 0;  // answers to older requests are dropped
    std::vector<Callback<void()>> afterToken_;
    TimerId tokenTimer_ = 0;
    int authFailures_ = 0;   // in a row, since the last answer the server gave with data
    bool authTold_ = false;  // the subscriptions heard of this refusal episode
    Callback<void(int)> subscribed_;
    Callback<void(const std::string&)> debug_;
    Callback<void(const std::string&)> serverSubscribed_;
    Callback<void(const std::string&)> serverUnsubscribed_;
    Callback<void(const Message&)> serverMessage_;  // set once, before start(): called in place
    Callback<void(int, const std::string&)> ended_;

    std::map<std::string, PublishCallback> pendingPublishes_;  // by request id (JSON text)
    std::map<std::string, PresenceQuery> presenceQueries_;     // in flight in-band, by request id
    int presenceRequests_ = 0;                                 // numbers the snapshots asked
    // The session secret (see TransportConfig::session) and the server's id for it.
    std::string session_;
    std::string clientId_;
    int nextPublishId_ = 1;
    int publishCount_ = 0;                                               // for idempotency keys and retry ids
    std::map<int, std::pair<TimerId, PublishCallback>> publishRetries_;  // waiting to be sent again
    bool closed_ = false;
    Liveness alive_;
};

}  // namespace pushwire::client
