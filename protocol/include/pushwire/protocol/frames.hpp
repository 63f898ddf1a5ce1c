// WebSocket frames (JSON text) in both directions, and the poll/long-poll response body.
// Every frame is an object with a "type". Client -> server: subscribe, unsubscribe,
// publish, ping, pong. Server -> client: welcome, subscribed, unsubscribed, message, gap,
// ack, error, ping, pong. docs/protocol.md has examples.
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

enum class ClientFrameType { Subscribe, Unsubscribe, Publish, Ping, Pong };

struct ClientFrame {
    ClientFrameType type = ClientFrameType::Ping;
    std::vector<std::string> channels;  // subscribe / unsubscribe ("channel" or "channels")
    std::optional<std::string> since;   // subscribe: cursor text
    std::string channel;                // publish
    std::string dataJson;               // publish
    std::string idJson;                 // the request id echoed in replies; empty if none
};

// `idJson`, when given, gets the frame's id whenever it can be read, also for a frame
// that is refused (so the refusal can name the request).
Result<ClientFrame> decodeClientFrame(std::string_view text, std::string* idJson = nullptr);

std::string encodeSubscribeFrame(const std::vector<std::string>& channels, std::string_view since,
                                 std::string_view idJson);
std::string encodeUnsubscribeFrame(const std::vector<std::string>& channels);
std::string encodePublishFrame(std::string_view channel, std::string_view dataJson, std::string_view idJson);

enum class ServerFrameType { Welcome, Subscribed, Unsubscribed, Message, Gap, Ack, Error, Ping, Pong };

struct ServerFrame {
    ServerFrameType type = ServerFrameType::Ping;
    Envelope message;                      // Message
    Gap gap;                               // Gap
    std::string idJson;                    // Ack, Error, Subscribed
    std::string channel;                   // Ack; Error: the channel refused, if one
    std::vector<std::string> channels;     // Subscribed
    std::uint64_t seq = 0;                 // Ack
    std::string cursor;                    // Subscribed
    std::string epoch;                     // Welcome
    int heartbeatMs = 0;                   // Welcome
    Error error{ErrorCode::Internal, ""};  // Error
};

Result<ServerFrame> decodeServerFrame(std::string_view text);

std::string encodeWelcomeFrame(std::string_view epoch, int heartbeatMs);
std::string encodeSubscribedFrame(std::string_view idJson, const std::vector<std::string>& channels,
                                  std::string_view cursor);
std::string encodeUnsubscribedFrame(const std::vector<std::string>& channels);
// {"type":"message", ...envelope fields}; takes the serialized envelope.
std::string encodeMessageFrame(std::string_view envelopeJson);
std::string encodeGapFrame(const Gap& gap);
std::string encodeAckFrame(std::string_view idJson, std::string_view channel, std::uint64_t seq);
std::string encodeErrorFrame(std::string_view idJson, ErrorCode code, std::string_view message);
std::string encodePingFrame(std::int64_t timeMs);
std::string encodePongFrame();

// Poll and long-poll answer: {"messages":[envelopes],"gaps":[gaps],"cursor":"..."}
struct PollResponse {
    std::vector<Envelope> messages;
    std::vector<Gap> gaps;
    std::string cursor;
    bool more = false;  // the server capped the answer: ask again at once
};
Result<PollResponse> decodePollResponse(std::string_view text);

// Publish request body (HTTP POST /pushwire/publish): {"channel":"chat","data":<any JSON>}
struct PublishRequest {
    std::string channel;
    std::string dataJson;
};
Result<PublishRequest> decodePublishRequest(std::string_view body);

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
};
Result<NegotiateInfo> decodeNegotiate(std::string_view text);

// Error body {"error":{"code","message"}} -> Error; nullopt if the text is not one.
std::optional<Error> decodeErrorBody(std::string_view text);
std::optional<ErrorCode> errorCodeFromName(std::string_view name);

}  // namespace pushwire::protocol
