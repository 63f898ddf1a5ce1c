// The one small interface every client transport implements, and what a transport
// reports back to the core. A transport only moves bytes: it never decides what was
// delivered (the core does, from seqs), so a replaced transport cannot cause a loss or
// a duplicate.
//
// Every report carries the transport's generation; the core ignores reports from a
// transport it already replaced (late callbacks).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/platform.hpp"
#include "pushwire/protocol/envelope.hpp"
#include "pushwire/protocol/errors.hpp"
#include "pushwire/protocol/frames.hpp"

namespace pushwire::client {

enum class TransportKind { WebSocket, Sse, LongPoll, Poll };

struct TransportCapabilities {
    bool bidirectional = false;     // publishes and subscription changes go in-band
    bool needsUpstreamPost = true;  // publishes go by a separate HTTP POST
    bool heartbeats = false;        // the server sends heartbeats on it (dead-link timing)
};

struct TransportConfig {
    std::string baseUrl;       // http(s)://host:port, no trailing slash
    std::string websocketUrl;  // from negotiate
    int heartbeatMs = 10000;
    int pollIntervalMs = 1000;
    int longPollTimeoutMs = 10000;
    // The client's session secret, sent as `session=` on every connection and request that
    // reads (the server's id for the client is derived from it, so it stays the same across
    // reconnects, and no one can take it by knowing the id); "" for none.
    std::string session;
    // The token to send now ("" without one); asked at every request and connection, so
    // a refreshed token is used from the next one on.
    Callback<std::string()> token;
    std::string currentToken() const { return token ? token() : std::string(); }
};

// Implemented by the core.
class TransportListener {
public:
    virtual void transportOpened(int generation) = 0;
    // A position the server reports (poll answers, SSE ids, WebSocket `subscribed`);
    // `channels` are the request's, in order, for a cursor whose entries go by place.
    virtual void transportCursor(int generation, const std::string& cursor,
                                 const std::vector<std::string>& channels) = 0;
    virtual void transportMessage(int generation, const protocol::Envelope& message) = 0;
    virtual void transportGap(int generation, const protocol::Gap& gap) = 0;
    virtual void transportAck(int generation, const std::string& idJson, std::uint64_t seq) = 0;
    // An error for one request (a publish, by id) or one channel (refused: `channel`), or
    // for every subscription when it names neither.
    virtual void transportRequestError(int generation, const std::string& idJson, const protocol::Error& error,
                                       const std::string& channel = {}) = 0;
    virtual void transportActivity(int generation) = 0;  // bytes arrived: the link is alive
    // The server's id for this client (WebSocket welcome, SSE welcome, poll answers).
    virtual void transportClientId(int generation, const std::string& clientId) = 0;
    // The answer to a presence query sent in-band (`idJson` is the query's).
    virtual void transportPresence(int generation, const std::string& idJson,
                                   const protocol::PresenceAnswer& answer) = 0;
    virtual void transportClosed(int generation, const protocol::Error& reason) = 0;
    // The backend's server API (docs/api.md). Subscribed: the server reads `channels` to
    // this client from now on (a cursor follows, by transportCursor, naming them);
    // unsubscribed: it stopped them, and they must never be asked for again; disconnected:
    // the transport has stopped, and the client must stay away unless `reconnect`.
    virtual void transportServerSubscribed(int generation, const std::vector<std::string>& channels) = 0;
    virtual void transportServerUnsubscribed(int generation, const std::vector<std::string>& channels) = 0;
    virtual void transportDisconnected(int generation, bool reconnect) = 0;

    // Asked whenever a transport (re)issues a request: what to read and from where.
    virtual std::vector<std::string> channels() const = 0;
    virtual std::string resumeCursor(const std::vector<std::string>& channels) const = 0;

protected:
    ~TransportListener() = default;
};

class Transport {
public:
    Transport(TransportListener& listener, Platform& platform, TransportConfig config, int generation)
        : listener_(listener), platform_(platform), config_(std::move(config)), generation_(generation) {}
    virtual ~Transport() = default;

    virtual void open() = 0;
    // The set of channels changed; read listener.channels() for the new set.
    virtual void channelsChanged(const std::vector<std::string>& added, const std::vector<std::string>& removed) = 0;
    // In-band frame (bidirectional transports only). False when it cannot be sent now.
    virtual bool send(const std::string&) { return false; }
    // Stops for good; reports nothing afterwards.
    virtual void close() = 0;

    int generation() const { return generation_; }

protected:
    TransportListener& listener_;
    Platform& platform_;
    TransportConfig config_;
    int generation_;
};

using TransportFactory = std::unique_ptr<Transport> (*)(TransportListener&, Platform&, TransportConfig, int generation);

// One row per transport; the order of the table is the fallback order of "auto".
struct TransportInfo {
    TransportKind kind;
    const char* name;  // as in negotiate and --transports
    TransportCapabilities capabilities;
    TransportFactory create;
    // Given up when not open by then. Short for SSE: a buffering proxy shows as a stream
    // that opens but delivers nothing, and "auto" must move on to long polling quickly.
    int openTimeoutMs = 4000;
};

}  // namespace pushwire::client
