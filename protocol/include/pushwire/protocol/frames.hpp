// WebSocket frames (JSON text) in both directions, and the poll/long-poll response body.
// Every frame is an object with a "type". Client -> server: subscribe, unsubscribe,
// publish, ping, pong, auth, presence, presence_stats. Server -> client: welcome,
// subscribed, unsubscribed, message, gap, ack, error, ping, pong, authorized, join, leave,
// presence, presence_stats. docs/protocol.md has examples.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pushwire/protocol/envelope.hpp"
#include "pushwire/protocol/result.hpp"

namespace pushwire::protocol {

constexpr int kProtocolVersion = 1;

enum class ClientFrameType { Subscribe, Unsubscribe, Publish, Ping, Pong, Auth, Presence, PresenceStats };

struct ClientFrame {
    ClientFrameType type = ClientFrameType::Ping;
    std::vector<std::string> channels;  // subscribe / unsubscribe ("channel" or "channels")
    std::optional<std::string> since;   // subscribe: cursor text
    std::string channel;                // publish, presence, presence_stats
    std::string dataJson;               // publish
    std::string idempotencyKey;         // publish: "" when none
    std::string token;                  // auth
    std::string idJson;                 // the request id echoed in replies; empty if none
};

// `idJson`, when given, gets the frame's id whenever it can be read, also for a frame
// that is refused (so the refusal can name the request).
Result<ClientFrame> decodeClientFrame(std::string_view text, std::string* idJson = nullptr);

std::string encodeSubscribeFrame(const std::vector<std::string>& channels, std::string_view since,
                                 std::string_view idJson);
std::string encodeUnsubscribeFrame(const std::vector<std::string>& channels);
std::string encodePublishFrame(std::string_view channel, std::string_view dataJson, std::string_view idJson,
                               std::string_view idempotencyKey = {});
std::string encodeAuthFrame(std::string_view token, std::string_view idJson);
// {"type":"presence","channel":"c","id":N} / {"type":"presence_stats",...}: a presence query.
std::string encodePresenceQueryFrame(std::string_view channel, bool statsOnly, std::string_view idJson);

// The answer to a presence query: the members and the channel's position when they were
// read ({"members":[...],"position":"<cursor>","truncated":bool}), or, for stats only,
// {"clients":N,"users":N}. The same on HTTP (GET /pushwire/presence) and WebSocket.
struct PresenceAnswer {
    std::string channel;
    bool stats = false;  // clients and users only
    std::vector<Member> members;
    std::string position;    // a cursor naming the channel; "" when not given
    bool truncated = false;  // the list stops at the server's --max-presence-members
    std::uint64_t clients = 0;
    std::uint64_t users = 0;
};
// `stats`: the answer holds clients and users (members when it does not).
Result<PresenceAnswer> decodePresenceAnswer(std::string_view text);

// The order is the browser glue's too (glue.js PW_FRAMES): new types go at the end.
enum class ServerFrameType {
    Welcome,
    Subscribed,
    Unsubscribed,
    Message,
    Gap,
    Ack,
    Error,
    Ping,
    Pong,
    Authorized,
    Join,
    Leave,
    Presence,
    PresenceStats
};

struct ServerFrame {
    ServerFrameType type = ServerFrameType::Ping;
    Envelope message;                      // Message, Join, Leave
    Gap gap;                               // Gap
    std::string idJson;                    // Ack, Error, Subscribed, Presence, PresenceStats
    std::string channel;                   // Ack; Error: the channel refused, if one
    std::vector<std::string> channels;     // Subscribed, Unsubscribed
    bool byServer = false;                 // Subscribed, Unsubscribed: the backend's doing (server API)
    std::uint64_t seq = 0;                 // Ack
    std::string cursor;                    // Subscribed
    std::string epoch;                     // Welcome
    std::string clientId;                  // Welcome: this connection's id as members show it
    std::int64_t expiresAt = 0;            // Authorized: the token's exp (seconds)
    int heartbeatMs = 0;                   // Welcome
    Error error{ErrorCode::Internal, ""};  // Error
    PresenceAnswer presence;               // Presence, PresenceStats
};

Result<ServerFrame> decodeServerFrame(std::string_view text);
// The data of an SSE `welcome` event ({"epoch","heartbeat_ms","client"}) as a Welcome frame.
Result<ServerFrame> decodeWelcome(std::string_view text);

// `client`: the connection's client id (docs/protocol.md, Presence); omitted when empty.
std::string encodeWelcomeFrame(std::string_view epoch, int heartbeatMs, std::string_view client = {});
std::string encodeSubscribedFrame(std::string_view idJson, const std::vector<std::string>& channels,
                                  std::string_view cursor);
std::string encodeUnsubscribedFrame(const std::vector<std::string>& channels);
// {"type":"message", ...envelope fields}; takes the serialized envelope. `type`: "join" or
// "leave" for those entries of a stream.
std::string encodeMessageFrame(std::string_view envelopeJson, std::string_view type = "message");
std::string encodeGapFrame(const Gap& gap);
// `repeated`: the publish repeated an idempotency key; `seq` is the first one's.
std::string encodeAckFrame(std::string_view idJson, std::string_view channel, std::uint64_t seq, bool repeated = false);
// `channel`: the channel a subscribe or publish was refused for ("" when none).
std::string encodeErrorFrame(std::string_view idJson, ErrorCode code, std::string_view message,
                             std::string_view channel = {});
// {"type":"authorized","sub":"...","exp":...,"id":...}: an auth frame was accepted.
std::string encodeAuthorizedFrame(std::string_view idJson, std::string_view subject, std::int64_t expiresAt);
std::string encodePingFrame(std::int64_t timeMs);
std::string encodePongFrame();

// A poll or long-poll answer's refusals: {"refused":[{"channel":"x","error":{...}}]}.
struct Refusal {
    std::string channel;
    Error error;
};

// Poll and long-poll answer: {"messages":[envelopes],"gaps":[gaps],"cursor":"..."}
struct PollResponse {
    std::vector<Envelope> messages;
    std::vector<Gap> gaps;
    std::vector<Refusal> refused;  // channels of the request the caller may not read
    std::string cursor;
    bool more = false;     // the server capped the answer: ask again at once
    std::string clientId;  // the session's id as members show it ("" when not said)
    // The backend's server API: channels it subscribed this client to (read from now on:
    // the cursor names them) and channels it took away (asked for no more).
    std::vector<std::string> subscribed;
    std::vector<std::string> unsubscribed;
};
Result<PollResponse> decodePollResponse(std::string_view text);

// What the backend's server API did to a connection, as an SSE event's data or an error
// body says it: `event: subscribed` / `unsubscribed` ({"channels":[...],"server":true}),
// `event: disconnect` ({"reconnect":bool}), and a poll's 409
// {"error":{"code":"disconnected",...,"reconnect":bool}}.
struct ServerAction {
    std::vector<std::string> channels;
    bool reconnect = false;
};
Result<ServerAction> decodeServerAction(std::string_view text);

// Publish body (HTTP POST /pushwire/publish): {"channel":"chat","data":...}, or the batch
// form {"channels":[...],"data":...} (one message to each; `channels` is then set and
// `channel` empty); either with an optional "idempotency_key" (1-64 characters): a
// publish repeating the key of one on the same channel within the server's window stores
// nothing and is answered with the first one's seq.
struct PublishRequest {
    std::string channel;
    std::string dataJson;
    std::vector<std::string> channels;
    std::string idempotencyKey;  // "" when none
};
Result<PublishRequest> decodePublishRequest(std::string_view body);
// One line of an NDJSON batch publish: {"channel":...,"data":...,"idempotency_key"?:...}.
Result<PublishRequest> decodePublishLine(std::string_view line);
// The longest idempotency key, in characters.
constexpr std::size_t kMaxIdempotencyKeyChars = 64;

// Publish answer: {"channel":"chat","seq":42,"time":...}
struct PublishAck {
    std::string channel;
    std::uint64_t seq = 0;
};
Result<PublishAck> decodePublishAck(std::string_view text);

// GET /pushwire/negotiate answer.
struct NegotiateInfo {
    int protocol = 0;
    std::vector<std::string> transports;
    std::string websocketUrl;
    int heartbeatMs = 0;
    std::string epoch;
    std::uint64_t maxMessageBytes = 0;  // 0: not said
    bool tokens = false;                // the server verifies tokens
};
Result<NegotiateInfo> decodeNegotiate(std::string_view text);

// The refusals of a poll answer, or of a 401/403 that refused every channel of the
// request: {"refused":[{"channel":"x","error":{...}}]}. Empty when there are none.
std::vector<Refusal> decodeRefusals(std::string_view text);

// The "channel" of an error event or body ({"channel":"x","error":{...}}), "" if none.
std::string errorChannel(std::string_view text);

// The `exp` claim of a JWT, read without verifying it (the client schedules its refresh
// with it); nullopt when the token is not one.
std::optional<std::int64_t> tokenExpiry(std::string_view jwt);

// Error body {"error":{"code","message"}} -> Error; nullopt if the text is not one.
std::optional<Error> decodeErrorBody(std::string_view text);
std::optional<ErrorCode> errorCodeFromName(std::string_view name);

}  // namespace pushwire::protocol
