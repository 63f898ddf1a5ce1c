#include "pushwire/protocol/frames.hpp"

#include <algorithm>
#include <cstdint>
#include <initializer_list>

#include "json_util.hpp"
#include "pushwire/protocol/channel_name.hpp"

namespace pushwire::protocol {

using detail::asSeq;
using detail::asString;
using detail::dumpJson;
using detail::field;
using detail::json;
using detail::quote;

namespace {

Error err(ErrorCode code, std::string message) { return Error{code, std::move(message)}; }

std::optional<Error> onlyFields(const json& object, std::string_view type, std::initializer_list<const char*> allowed) {
    for (auto it = object.begin(); it != object.end(); ++it) {
        bool known = false;
        for (const char* name : allowed) known = known || it.key() == name;
        if (!known) {
            return err(ErrorCode::UnknownField,
                       "unknown field '" + it.key() + "' in a " + std::string(type) + " frame");
        }
    }
    return std::nullopt;
}

// "channel": "a" or "channels": ["a", "b"], each validated.
std::optional<Error> readChannels(const json& object, std::vector<std::string>& out) {
    const json* one = field(object, "channel");
    const json* many = field(object, "channels");
    if (one != nullptr) {
        if (!one->is_string()) return err(ErrorCode::BadType, "'channel' must be a string");
        out.push_back(one->get<std::string>());
    }
    if (many != nullptr) {
        if (!many->is_array()) return err(ErrorCode::BadType, "'channels' must be an array of strings");
        for (const json& item : *many) {
            if (!item.is_string()) return err(ErrorCode::BadType, "'channels' must be an array of strings");
            out.push_back(item.get<std::string>());
        }
    }
    if (out.empty()) return err(ErrorCode::MissingField, "expected 'channel' or 'channels'");
    for (const std::string& name : out) {
        if (auto problem = channelNameProblem(name)) return err(ErrorCode::BadChannel, *problem);
    }
    return std::nullopt;
}

std::string idField(std::string_view idJson) {
    return idJson.empty() ? std::string() : ",\"id\":" + std::string(idJson);
}

std::string channelList(const std::vector<std::string>& channels) {
    std::string out = "[";
    for (std::size_t i = 0; i < channels.size(); ++i) {
        if (i) out += ',';
        out += quote(channels[i]);
    }
    return out + "]";
}

}  // namespace

Result<ClientFrame> decodeClientFrame(std::string_view text) {
    json value = detail::parseJson(text);
    if (value.is_discarded()) return err(ErrorCode::BadJson, "frame is not valid JSON");
    if (!value.is_object()) return err(ErrorCode::BadType, "frame must be a JSON object");
    auto type = asString(field(value, "type"));
    if (!type) return err(ErrorCode::MissingField, "frame needs a string 'type'");
    ClientFrame frame;
    if (const json* id = field(value, "id")) {
        if (!(id->is_string() || id->is_number())) {
            return err(ErrorCode::BadType, "'id' must be a string or a number");
        }
        frame.idJson = dumpJson(*id);
    }
    if (*type == "subscribe") {
        frame.type = ClientFrameType::Subscribe;
        if (auto e = onlyFields(value, *type, {"type", "id", "channel", "channels", "since"})) return *e;
        if (auto e = readChannels(value, frame.channels)) return *e;
        if (const json* since = field(value, "since")) {
            if (since->is_string()) {
                frame.since = since->get<std::string>();
            } else if (auto seq = asSeq(since)) {
                frame.since = std::to_string(*seq);
            } else if (!since->is_null()) {
                return err(ErrorCode::BadType, "'since' must be a cursor string or a seq");
            }
        }
    } else if (*type == "unsubscribe") {
        frame.type = ClientFrameType::Unsubscribe;
        if (auto e = onlyFields(value, *type, {"type", "id", "channel", "channels"})) return *e;
        if (auto e = readChannels(value, frame.channels)) return *e;
    } else if (*type == "publish") {
        frame.type = ClientFrameType::Publish;
        if (auto e = onlyFields(value, *type, {"type", "id", "channel", "data"})) return *e;
        auto channel = asString(field(value, "channel"));
        if (!channel) return err(ErrorCode::MissingField, "publish needs a string 'channel'");
        if (auto problem = channelNameProblem(*channel)) return err(ErrorCode::BadChannel, *problem);
        const json* data = field(value, "data");
        if (data == nullptr) return err(ErrorCode::MissingField, "publish needs 'data'");
        frame.channel = std::move(*channel);
        frame.dataJson = dumpJson(*data);
    } else if (*type == "ping" || *type == "pong") {
        frame.type = *type == "ping" ? ClientFrameType::Ping : ClientFrameType::Pong;
        if (auto e = onlyFields(value, *type, {"type", "id", "time"})) return *e;
    } else {
        return err(ErrorCode::BadRequest,
                   "unknown frame type '" + *type + "'; expected subscribe, unsubscribe, publish, ping or pong");
    }
    return frame;
}

std::string encodeSubscribeFrame(const std::vector<std::string>& channels, std::string_view since,
                                 std::string_view idJson) {
    std::string out = "{\"type\":\"subscribe\",\"channels\":" + channelList(channels);
    if (!since.empty()) out += ",\"since\":" + quote(since);
    return out + idField(idJson) + "}";
}

std::string encodeUnsubscribeFrame(const std::vector<std::string>& channels) {
    return "{\"type\":\"unsubscribe\",\"channels\":" + channelList(channels) + "}";
}

std::string encodePublishFrame(std::string_view channel, std::string_view dataJson, std::string_view idJson) {
    return "{\"type\":\"publish\",\"channel\":" + quote(channel) + ",\"data\":" + std::string(dataJson) +
           idField(idJson) + "}";
}

std::string encodeWelcomeFrame(std::string_view epoch, int heartbeatMs) {
    return "{\"type\":\"welcome\",\"protocol\":" + std::to_string(kProtocolVersion) + ",\"epoch\":" + quote(epoch) +
           ",\"heartbeat_ms\":" + std::to_string(heartbeatMs) + "}";
}

std::string encodeSubscribedFrame(std::string_view idJson, const std::vector<std::string>& channels,
                                  std::string_view cursor) {
    return "{\"type\":\"subscribed\",\"channels\":" + channelList(channels) + ",\"cursor\":" + quote(cursor) +
           idField(idJson) + "}";
}

std::string encodeUnsubscribedFrame(const std::vector<std::string>& channels) {
    return "{\"type\":\"unsubscribed\",\"channels\":" + channelList(channels) + "}";
}

std::string encodeMessageFrame(std::string_view envelopeJson) {
    // The envelope is an object: splice the type in after its opening brace.
    std::string out = "{\"type\":\"message\",";
    out.append(envelopeJson.substr(1));
    return out;
}

std::string encodeGapFrame(const Gap& gap) {
    std::string body = encodeGap(gap);
    return "{\"type\":\"gap\"," + body.substr(1);
}

std::string encodeAckFrame(std::string_view idJson, std::string_view channel, std::uint64_t seq) {
    return "{\"type\":\"ack\",\"channel\":" + quote(channel) + ",\"seq\":" + std::to_string(seq) + idField(idJson) +
           "}";
}

std::string encodeErrorFrame(std::string_view idJson, ErrorCode code, std::string_view message) {
    std::string body = errorBody(code, message);
    return "{\"type\":\"error\"," + body.substr(1, body.size() - 2) + idField(idJson) + "}";
}

std::string encodePingFrame(std::int64_t timeMs) {
    return "{\"type\":\"ping\",\"time\":" + std::to_string(timeMs) + "}";
}

std::string encodePongFrame() { return "{\"type\":\"pong\"}"; }

std::optional<ErrorCode> errorCodeFromName(std::string_view name) {
    for (int i = 0; i <= static_cast<int>(ErrorCode::Internal); ++i) {
        auto code = static_cast<ErrorCode>(i);
        if (errorCodeName(code) == name) return code;
    }
    return std::nullopt;
}

namespace {

std::optional<Error> errorFrom(const json& value) {
    const json* error = field(value, "error");
    if (error == nullptr || !error->is_object()) return std::nullopt;
    auto code = asString(field(*error, "code"));
    auto message = asString(field(*error, "message"));
    if (!code) return std::nullopt;
    return Error{errorCodeFromName(*code).value_or(ErrorCode::Internal), message.value_or(*code)};
}

}  // namespace

Result<ServerFrame> decodeServerFrame(std::string_view text) {
    json value = detail::parseJson(text);
    if (value.is_discarded() || !value.is_object()) {
        return err(ErrorCode::BadJson, "server frame is not a JSON object");
    }
    auto type = asString(field(value, "type"));
    if (!type) return err(ErrorCode::MissingField, "server frame has no 'type'");
    ServerFrame frame;
    if (const json* id = field(value, "id")) frame.idJson = dumpJson(*id);
    if (*type == "message") {
        frame.type = ServerFrameType::Message;
        auto message = detail::envelopeFromJson(value);
        if (!message) return message.error();
        frame.message = std::move(message.value());
    } else if (*type == "gap") {
        frame.type = ServerFrameType::Gap;
        auto gap = detail::gapFromJson(value);
        if (!gap) return gap.error();
        frame.gap = std::move(gap.value());
    } else if (*type == "ack") {
        frame.type = ServerFrameType::Ack;
        frame.channel = asString(field(value, "channel")).value_or("");
        frame.seq = asSeq(field(value, "seq")).value_or(0);
    } else if (*type == "error") {
        frame.type = ServerFrameType::Error;
        frame.error = errorFrom(value).value_or(Error{ErrorCode::Internal, "unknown error"});
    } else if (*type == "welcome") {
        frame.type = ServerFrameType::Welcome;
        frame.epoch = asString(field(value, "epoch")).value_or("");
        frame.heartbeatMs =
            static_cast<int>(std::min<std::uint64_t>(asSeq(field(value, "heartbeat_ms")).value_or(0), INT32_MAX));
    } else if (*type == "subscribed") {
        frame.type = ServerFrameType::Subscribed;
        frame.cursor = asString(field(value, "cursor")).value_or("");
    } else if (*type == "unsubscribed") {
        frame.type = ServerFrameType::Unsubscribed;
    } else if (*type == "ping") {
        frame.type = ServerFrameType::Ping;
    } else if (*type == "pong") {
        frame.type = ServerFrameType::Pong;
    } else {
        return err(ErrorCode::BadRequest, "unknown server frame type '" + *type + "'");
    }
    return frame;
}

Result<PollResponse> decodePollResponse(std::string_view text) {
    json value = detail::parseJson(text);
    if (value.is_discarded() || !value.is_object()) {
        return err(ErrorCode::BadJson, "poll response is not a JSON object");
    }
    if (auto error = errorFrom(value)) return *error;
    PollResponse response;
    const json* messages = field(value, "messages");
    const json* gaps = field(value, "gaps");
    auto cursor = asString(field(value, "cursor"));
    if (messages == nullptr || !messages->is_array() || !cursor) {
        return err(ErrorCode::MissingField, "poll response needs 'messages' and 'cursor'");
    }
    // A malformed entry fails the whole answer: skipping it would be a silent loss.
    for (const json& item : *messages) {
        auto message = detail::envelopeFromJson(item);
        if (!message) return message.error();
        response.messages.push_back(std::move(message.value()));
    }
    if (gaps != nullptr && gaps->is_array()) {
        for (const json& item : *gaps) {
            auto gap = detail::gapFromJson(item);
            if (!gap) return gap.error();
            response.gaps.push_back(std::move(gap.value()));
        }
    }
    response.cursor = std::move(*cursor);
    const json* more = field(value, "more");
    response.more = more != nullptr && more->is_boolean() && more->get<bool>();
    return response;
}

Result<PublishRequest> decodePublishRequest(std::string_view body) {
    json value = detail::parseJson(body);
    if (value.is_discarded()) return err(ErrorCode::BadJson, "body is not valid JSON");
    if (!value.is_object()) {
        return err(ErrorCode::BadType, "body must be a JSON object {\"channel\": ..., \"data\": ...}");
    }
    if (auto e = onlyFields(value, "publish", {"channel", "data"})) return *e;
    const json* channel = field(value, "channel");
    if (channel == nullptr) return err(ErrorCode::MissingField, "body needs a 'channel'");
    if (!channel->is_string()) return err(ErrorCode::BadType, "'channel' must be a string");
    PublishRequest request{channel->get<std::string>(), ""};
    if (auto problem = channelNameProblem(request.channel)) return err(ErrorCode::BadChannel, *problem);
    const json* data = field(value, "data");
    if (data == nullptr) return err(ErrorCode::MissingField, "body needs 'data' (any JSON value)");
    request.dataJson = dumpJson(*data);
    return request;
}

Result<PublishAck> decodePublishAck(std::string_view text) {
    json value = detail::parseJson(text);
    if (value.is_discarded() || !value.is_object()) {
        return err(ErrorCode::BadJson, "publish response is not a JSON object");
    }
    if (auto error = errorFrom(value)) return *error;
    auto seq = asSeq(field(value, "seq"));
    if (!seq) return err(ErrorCode::MissingField, "publish response has no 'seq'");
    return PublishAck{asString(field(value, "channel")).value_or(""), *seq};
}

Result<NegotiateInfo> decodeNegotiate(std::string_view text) {
    json value = detail::parseJson(text);
    if (value.is_discarded() || !value.is_object()) {
        return err(ErrorCode::BadJson, "negotiate answer is not a JSON object");
    }
    NegotiateInfo info;
    info.protocol = static_cast<int>(asSeq(field(value, "protocol")).value_or(0));
    info.websocketUrl = asString(field(value, "websocket_url")).value_or("");
    info.heartbeatMs =
        static_cast<int>(std::min<std::uint64_t>(asSeq(field(value, "heartbeat_ms")).value_or(0), INT32_MAX));
    info.epoch = asString(field(value, "epoch")).value_or("");
    const json* transports = field(value, "transports");
    if (transports == nullptr || !transports->is_array()) {
        return err(ErrorCode::MissingField, "negotiate answer has no 'transports' list");
    }
    for (const json& item : *transports) {
        if (item.is_string()) info.transports.push_back(item.get<std::string>());
    }
    return info;
}

std::optional<Error> decodeErrorBody(std::string_view text) {
    json value = detail::parseJson(text);
    if (value.is_discarded() || !value.is_object()) return std::nullopt;
    return errorFrom(value);
}

}  // namespace pushwire::protocol
