#include "pushwire/protocol/frames.hpp"

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <unordered_set>

#include "json_util.hpp"
#include "pushwire/protocol/channel_name.hpp"

namespace pushwire::protocol {

using detail::Fields;
using detail::quote;

namespace {

Error err(ErrorCode code, std::string message) { return Error{code, std::move(message)}; }

// "channel": "a" or "channels": ["a", "b"], each validated; a name given twice counts once.
std::optional<Error> readChannels(const Fields& fields, std::vector<std::string>& out) {
    auto one = fields.find("channel");
    auto many = fields.find("channels");
    if (one) {
        auto name = detail::stringValue(*one);
        if (!name) return err(ErrorCode::BadType, "'channel' must be a string");
        out.push_back(std::move(*name));
    }
    if (many) {
        if (!detail::isArray(*many)) return err(ErrorCode::BadType, "'channels' must be an array of strings");
        for (std::string_view item : detail::arrayElements(*many)) {
            auto name = detail::stringValue(item);
            if (!name) return err(ErrorCode::BadType, "'channels' must be an array of strings");
            out.push_back(std::move(*name));
        }
    }
    if (out.empty()) return err(ErrorCode::MissingField, "expected 'channel' or 'channels'");
    for (const std::string& name : out) {
        if (auto problem = channelNameProblem(name)) return err(ErrorCode::BadChannel, *problem);
    }
    if (out.size() > 1) {
        std::unordered_set<std::string_view> seen;
        std::vector<std::string> unique;
        unique.reserve(out.size());
        for (std::string& name : out) {
            if (seen.insert(name).second) unique.push_back(name);
        }
        out = std::move(unique);
    }
    return std::nullopt;
}

// "idempotency_key": a string of 1-64 characters (UTF-8 code points), or absent.
std::optional<Error> readIdempotencyKey(const Fields& fields, std::string& out) {
    auto text = fields.find("idempotency_key");
    if (!text) return std::nullopt;
    auto key = detail::stringValue(*text);
    if (!key) return err(ErrorCode::BadType, "'idempotency_key' must be a string");
    std::size_t characters = 0;
    for (unsigned char c : *key) characters += (c & 0xC0) != 0x80 ? 1 : 0;
    if (characters == 0 || characters > kMaxIdempotencyKeyChars) {
        return err(ErrorCode::BadRequest, "'idempotency_key' must be 1 to " + std::to_string(kMaxIdempotencyKeyChars) +
                                              " characters, got " + std::to_string(characters));
    }
    out = std::move(*key);
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

Result<ClientFrame> decodeClientFrame(std::string_view text, std::string* idJson) {
    // Validated at any depth (the parser is iterative), so that even a frame refused for
    // its depth is answered with its own id.
    std::size_t depth = 0;
    if (auto error = detail::validateJson(text, detail::kAnyDepth, "frame", &depth)) return *error;
    if (!detail::isObject(text)) return err(ErrorCode::BadType, "frame must be a JSON object");
    Fields fields(text);
    ClientFrame frame;
    if (auto id = fields.find("id")) {
        if (!detail::isString(*id) && !detail::integerValue(*id) && !detail::unsignedValue(*id)) {
            return err(ErrorCode::BadType, "'id' must be a string or a whole number");
        }
        frame.idJson = std::string(*id);
        if (idJson) *idJson = frame.idJson;
    }
    // The frame object around the data: one level more than data may have.
    if (depth > kMaxDataDepth + 1) return detail::tooDeep("frame", kMaxDataDepth + 1);
    auto typeText = fields.find("type");
    auto type = typeText ? detail::stringValue(*typeText) : std::nullopt;
    if (!type) return err(ErrorCode::MissingField, "frame needs a string 'type'");
    const std::string where = "a " + *type + " frame";
    if (*type == "subscribe") {
        frame.type = ClientFrameType::Subscribe;
        if (auto e = fields.only({"type", "id", "channel", "channels", "since"}, where)) return *e;
        if (auto e = readChannels(fields, frame.channels)) return *e;
        if (auto since = fields.find("since")) {
            if (auto cursor = detail::stringValue(*since)) {
                frame.since = std::move(*cursor);
            } else if (auto seq = detail::unsignedValue(*since)) {
                frame.since = std::to_string(*seq);
            } else if (!detail::isNull(*since)) {
                return err(ErrorCode::BadType, "'since' must be a cursor string or a seq");
            }
        }
    } else if (*type == "unsubscribe") {
        frame.type = ClientFrameType::Unsubscribe;
        if (auto e = fields.only({"type", "id", "channel", "channels"}, where)) return *e;
        if (auto e = readChannels(fields, frame.channels)) return *e;
    } else if (*type == "publish") {
        frame.type = ClientFrameType::Publish;
        if (auto e = fields.only({"type", "id", "channel", "data", "idempotency_key"}, where)) return *e;
        if (auto e = readIdempotencyKey(fields, frame.idempotencyKey)) return *e;
        auto channelText = fields.find("channel");
        auto channel = channelText ? detail::stringValue(*channelText) : std::nullopt;
        if (!channel) return err(ErrorCode::MissingField, "publish needs a string 'channel'");
        if (auto problem = channelNameProblem(*channel)) return err(ErrorCode::BadChannel, *problem);
        auto data = fields.find("data");
        if (!data) return err(ErrorCode::MissingField, "publish needs 'data'");
        frame.channel = std::move(*channel);
        frame.dataJson = std::string(*data);
    } else if (*type == "ping" || *type == "pong") {
        frame.type = *type == "ping" ? ClientFrameType::Ping : ClientFrameType::Pong;
        if (auto e = fields.only({"type", "id", "time"}, where)) return *e;
    } else if (*type == "auth") {
        frame.type = ClientFrameType::Auth;
        if (auto e = fields.only({"type", "id", "token"}, where)) return *e;
        auto tokenText = fields.find("token");
        auto token = tokenText ? detail::stringValue(*tokenText) : std::nullopt;
        if (!token) return err(ErrorCode::MissingField, "auth needs a string 'token'");
        frame.token = std::move(*token);
    } else if (*type == "presence" || *type == "presence_stats") {
        frame.type = *type == "presence" ? ClientFrameType::Presence : ClientFrameType::PresenceStats;
        if (auto e = fields.only({"type", "id", "channel"}, where)) return *e;
        auto channelText = fields.find("channel");
        auto channel = channelText ? detail::stringValue(*channelText) : std::nullopt;
        if (!channel) return err(ErrorCode::MissingField, *type + " needs a string 'channel'");
        if (auto problem = channelNameProblem(*channel)) return err(ErrorCode::BadChannel, *problem);
        frame.channel = std::move(*channel);
    } else {
        return err(ErrorCode::BadRequest, "unknown frame type '" + *type +
                                              "'; expected subscribe, unsubscribe, publish, auth, presence, "
                                              "presence_stats, ping or pong");
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

std::string encodePublishFrame(std::string_view channel, std::string_view dataJson, std::string_view idJson,
                               std::string_view idempotencyKey) {
    std::string out = "{\"type\":\"publish\",\"channel\":" + quote(channel) + ",\"data\":" + std::string(dataJson);
    if (!idempotencyKey.empty()) out += ",\"idempotency_key\":" + quote(idempotencyKey);
    return out + idField(idJson) + "}";
}

std::string encodeAuthFrame(std::string_view token, std::string_view idJson) {
    return "{\"type\":\"auth\",\"token\":" + quote(token) + idField(idJson) + "}";
}

std::string encodeAuthorizedFrame(std::string_view idJson, std::string_view subject, std::int64_t expiresAt) {
    return "{\"type\":\"authorized\",\"sub\":" + quote(subject) + ",\"exp\":" + std::to_string(expiresAt) +
           idField(idJson) + "}";
}

std::string encodeWelcomeFrame(std::string_view epoch, int heartbeatMs, std::string_view client) {
    return "{\"type\":\"welcome\",\"protocol\":" + std::to_string(kProtocolVersion) + ",\"epoch\":" + quote(epoch) +
           ",\"heartbeat_ms\":" + std::to_string(heartbeatMs) +
           (client.empty() ? std::string() : ",\"client\":" + quote(client)) + "}";
}

std::string encodeSubscribedFrame(std::string_view idJson, const std::vector<std::string>& channels,
                                  std::string_view cursor) {
    return "{\"type\":\"subscribed\",\"channels\":" + channelList(channels) + ",\"cursor\":" + quote(cursor) +
           idField(idJson) + "}";
}

std::string encodeUnsubscribedFrame(const std::vector<std::string>& channels) {
    return "{\"type\":\"unsubscribed\",\"channels\":" + channelList(channels) + "}";
}

std::string encodeMessageFrame(std::string_view envelopeJson, std::string_view type) {
    // The envelope is an object: splice the type in after its opening brace.
    std::string out = "{\"type\":\"";
    out += type;
    out += "\",";
    out.append(envelopeJson.substr(1));
    return out;
}

std::string encodeGapFrame(const Gap& gap) {
    std::string body = encodeGap(gap);
    return "{\"type\":\"gap\"," + body.substr(1);
}

std::string encodeAckFrame(std::string_view idJson, std::string_view channel, std::uint64_t seq, bool repeated) {
    return "{\"type\":\"ack\",\"channel\":" + quote(channel) + ",\"seq\":" + std::to_string(seq) +
           (repeated ? ",\"repeated\":true" : "") + idField(idJson) + "}";
}

std::string encodeErrorFrame(std::string_view idJson, ErrorCode code, std::string_view message,
                             std::string_view channel) {
    std::string body = errorBody(code, message);
    std::string out = "{\"type\":\"error\"," + body.substr(1, body.size() - 2) + idField(idJson);
    if (!channel.empty()) out += ",\"channel\":" + quote(channel);
    return out + "}";
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

std::optional<Error> errorFrom(const Fields& fields) {
    auto error = fields.find("error");
    if (!error || !detail::isObject(*error)) return std::nullopt;
    Fields inner(*error);
    auto codeText = inner.find("code");
    auto code = codeText ? detail::stringValue(*codeText) : std::nullopt;
    if (!code) return std::nullopt;
    auto messageText = inner.find("message");
    auto message = messageText ? detail::stringValue(*messageText) : std::nullopt;
    return Error{errorCodeFromName(*code).value_or(ErrorCode::Internal), message.value_or(*code)};
}

std::string stringField(const Fields& fields, std::string_view name) {
    auto value = fields.find(name);
    return value ? detail::stringValue(*value).value_or("") : std::string();
}

std::uint64_t unsignedField(const Fields& fields, std::string_view name) {
    auto value = fields.find(name);
    return value ? detail::unsignedValue(*value).value_or(0) : 0;
}

int intField(const Fields& fields, std::string_view name) {
    return static_cast<int>(std::min<std::uint64_t>(unsignedField(fields, name), INT32_MAX));
}

bool flagField(const Fields& fields, std::string_view name) {
    auto value = fields.find(name);
    return value && detail::boolValue(*value).value_or(false);
}

// An array of strings (what is not a string is left out; none when absent).
std::vector<std::string> stringsField(const Fields& fields, std::string_view name) {
    std::vector<std::string> out;
    if (auto list = fields.find(name); list && detail::isArray(*list)) {
        for (std::string_view item : detail::arrayElements(*list)) {
            if (auto text = detail::stringValue(item)) out.push_back(std::move(*text));
        }
    }
    return out;
}

// A document from the server, validated (however it nests, within the client's bound).
std::optional<Error> readServerDocument(std::string_view text, const char* what) {
    if (auto error = detail::validateJson(text, detail::kAnyDepth, what)) return error;
    if (!detail::isObject(text)) return err(ErrorCode::BadJson, std::string(what) + " is not a JSON object");
    return std::nullopt;
}

// {"members":[...],"position":"...","truncated":bool} or {"clients":N,"users":N}, with
// an optional "channel".
Result<PresenceAnswer> presenceAnswerFrom(const Fields& fields) {
    PresenceAnswer answer;
    answer.channel = stringField(fields, "channel");
    auto members = fields.find("members");
    if (!members) {
        auto clients = fields.find("clients");
        auto users = fields.find("users");
        if (!clients || !users || !detail::unsignedValue(*clients) || !detail::unsignedValue(*users)) {
            return err(ErrorCode::MissingField, "presence answer needs 'members', or 'clients' and 'users'");
        }
        answer.stats = true;
        answer.clients = *detail::unsignedValue(*clients);
        answer.users = *detail::unsignedValue(*users);
        return answer;
    }
    if (!detail::isArray(*members)) return err(ErrorCode::BadType, "presence answer's 'members' must be an array");
    for (std::string_view item : detail::arrayElements(*members)) {
        auto member = detail::memberFromJson(item);
        if (!member) return err(ErrorCode::MissingField, "each member needs a string 'client'");
        answer.members.push_back(std::move(*member));
    }
    answer.position = stringField(fields, "position");
    auto truncated = fields.find("truncated");
    answer.truncated = truncated && detail::boolValue(*truncated).value_or(false);
    return answer;
}

}  // namespace

Result<PresenceAnswer> decodePresenceAnswer(std::string_view text) {
    if (auto error = readServerDocument(text, "presence answer")) return *error;
    Fields fields(text);
    if (auto error = errorFrom(fields)) return *error;
    return presenceAnswerFrom(fields);
}

std::string encodePresenceQueryFrame(std::string_view channel, bool statsOnly, std::string_view idJson) {
    return std::string("{\"type\":\"") + (statsOnly ? "presence_stats" : "presence") +
           "\",\"channel\":" + quote(channel) + idField(idJson) + "}";
}

Result<ServerFrame> decodeWelcome(std::string_view text) {
    if (auto error = readServerDocument(text, "welcome")) return *error;
    Fields fields(text);
    ServerFrame frame;
    frame.type = ServerFrameType::Welcome;
    frame.epoch = stringField(fields, "epoch");
    frame.heartbeatMs = intField(fields, "heartbeat_ms");
    frame.clientId = stringField(fields, "client");
    return frame;
}

Result<ServerFrame> decodeServerFrame(std::string_view text) {
    if (auto error = readServerDocument(text, "server frame")) return *error;
    Fields fields(text);
    auto typeText = fields.find("type");
    auto type = typeText ? detail::stringValue(*typeText) : std::nullopt;
    if (!type) return err(ErrorCode::MissingField, "server frame has no 'type'");
    ServerFrame frame;
    if (auto id = fields.find("id")) frame.idJson = std::string(*id);
    if (*type == "message") {
        frame.type = ServerFrameType::Message;
        auto message = detail::envelopeFromJson(text);
        if (!message) return message.error();
        frame.message = std::move(message.value());
    } else if (*type == "gap") {
        frame.type = ServerFrameType::Gap;
        auto gap = detail::gapFromJson(text);
        if (!gap) return gap.error();
        frame.gap = std::move(gap.value());
    } else if (*type == "ack") {
        frame.type = ServerFrameType::Ack;
        frame.channel = stringField(fields, "channel");
        frame.seq = unsignedField(fields, "seq");
    } else if (*type == "error") {
        frame.type = ServerFrameType::Error;
        frame.error = errorFrom(fields).value_or(Error{ErrorCode::Internal, "unknown error"});
        frame.channel = stringField(fields, "channel");
    } else if (*type == "join" || *type == "leave") {
        frame.type = *type == "join" ? ServerFrameType::Join : ServerFrameType::Leave;
        auto entry = detail::envelopeFromJson(text);
        if (!entry) return entry.error();
        if (entry->event == EntryEvent::Message) return err(ErrorCode::MissingField, *type + " frame needs an 'event'");
        frame.message = std::move(entry.value());
    } else if (*type == "presence" || *type == "presence_stats") {
        frame.type = *type == "presence" ? ServerFrameType::Presence : ServerFrameType::PresenceStats;
        auto answer = presenceAnswerFrom(fields);
        if (!answer) return answer.error();
        frame.presence = std::move(answer.value());
    } else if (*type == "welcome") {
        frame.type = ServerFrameType::Welcome;
        frame.epoch = stringField(fields, "epoch");
        frame.heartbeatMs = intField(fields, "heartbeat_ms");
        frame.clientId = stringField(fields, "client");
    } else if (*type == "subscribed") {
        frame.type = ServerFrameType::Subscribed;
        frame.cursor = stringField(fields, "cursor");
        frame.channels = stringsField(fields, "channels");
        frame.byServer = flagField(fields, "server");
    } else if (*type == "unsubscribed") {
        frame.type = ServerFrameType::Unsubscribed;
        frame.channels = stringsField(fields, "channels");
        frame.byServer = flagField(fields, "server");
    } else if (*type == "authorized") {
        frame.type = ServerFrameType::Authorized;
        if (auto exp = fields.find("exp")) frame.expiresAt = detail::integerValue(*exp).value_or(0);
    } else if (*type == "ping") {
        frame.type = ServerFrameType::Ping;
    } else if (*type == "pong") {
        frame.type = ServerFrameType::Pong;
    } else {
        return err(ErrorCode::BadRequest, "unknown server frame type '" + *type + "'");
    }
    return frame;
}

namespace {

std::vector<Refusal> refusalsFrom(const Fields& fields) {
    std::vector<Refusal> out;
    auto refused = fields.find("refused");
    if (!refused || !detail::isArray(*refused)) return out;
    for (std::string_view item : detail::arrayElements(*refused)) {
        if (!detail::isObject(item)) continue;
        Fields entry(item);
        auto error = errorFrom(entry);
        std::string channel = stringField(entry, "channel");
        if (error && !channel.empty()) out.push_back(Refusal{std::move(channel), std::move(*error)});
    }
    return out;
}

}  // namespace

std::string errorChannel(std::string_view text) {
    if (detail::validateJson(text, kMaxDataDepth, "answer") || !detail::isObject(text)) return {};
    return stringField(Fields(text), "channel");
}

std::vector<Refusal> decodeRefusals(std::string_view text) {
    if (detail::validateJson(text, kMaxDataDepth, "answer") || !detail::isObject(text)) return {};
    return refusalsFrom(Fields(text));
}

Result<PollResponse> decodePollResponse(std::string_view text) {
    if (auto error = readServerDocument(text, "poll response")) return *error;
    Fields fields(text);
    if (auto error = errorFrom(fields)) return *error;
    PollResponse response;
    auto messages = fields.find("messages");
    auto cursorText = fields.find("cursor");
    auto cursor = cursorText ? detail::stringValue(*cursorText) : std::nullopt;
    if (!messages || !detail::isArray(*messages) || !cursor) {
        return err(ErrorCode::MissingField, "poll response needs 'messages' and 'cursor'");
    }
    // A malformed entry fails the whole answer: skipping it would be a silent loss.
    for (std::string_view item : detail::arrayElements(*messages)) {
        auto message = detail::envelopeFromJson(item);
        if (!message) return message.error();
        response.messages.push_back(std::move(message.value()));
    }
    if (auto gaps = fields.find("gaps"); gaps && detail::isArray(*gaps)) {
        for (std::string_view item : detail::arrayElements(*gaps)) {
            auto gap = detail::gapFromJson(item);
            if (!gap) return gap.error();
            response.gaps.push_back(std::move(gap.value()));
        }
    }
    response.refused = refusalsFrom(fields);
    response.cursor = std::move(*cursor);
    auto more = fields.find("more");
    response.more = more && detail::boolValue(*more).value_or(false);
    response.clientId = stringField(fields, "client");
    response.subscribed = stringsField(fields, "subscribed");
    response.unsubscribed = stringsField(fields, "unsubscribed");
    return response;
}

Result<ServerAction> decodeServerAction(std::string_view text) {
    if (auto error = readServerDocument(text, "server action")) return *error;
    Fields fields(text);
    ServerAction action;
    action.channels = stringsField(fields, "channels");
    auto error = fields.find("error");
    action.reconnect =
        error && detail::isObject(*error) ? flagField(Fields(*error), "reconnect") : flagField(fields, "reconnect");
    return action;
}

Result<PublishRequest> decodePublishRequest(std::string_view body) {
    // The body object around the data: one level more than data may have.
    if (auto error = detail::validateJson(body, kMaxDataDepth + 1, "body")) return *error;
    if (!detail::isObject(body)) {
        return err(ErrorCode::BadType, "body must be a JSON object {\"channel\": ..., \"data\": ...}");
    }
    Fields fields(body);
    if (auto e = fields.only({"channel", "channels", "data", "idempotency_key"}, "a publish body")) return *e;
    PublishRequest request;
    if (auto e = readIdempotencyKey(fields, request.idempotencyKey)) return *e;
    auto channelText = fields.find("channel");
    auto channelsText = fields.find("channels");
    if (channelText && channelsText) return err(ErrorCode::BadRequest, "give 'channel' or 'channels', not both");
    if (channelsText) {
        if (auto e = readChannels(fields, request.channels)) return *e;
    } else {
        if (!channelText) return err(ErrorCode::MissingField, "body needs a 'channel' (or a 'channels' list)");
        auto channel = detail::stringValue(*channelText);
        if (!channel) return err(ErrorCode::BadType, "'channel' must be a string");
        request.channel = std::move(*channel);
        if (auto problem = channelNameProblem(request.channel)) return err(ErrorCode::BadChannel, *problem);
    }
    auto data = fields.find("data");
    if (!data) return err(ErrorCode::MissingField, "body needs 'data' (any JSON value)");
    request.dataJson = std::string(*data);
    return request;
}

Result<PublishRequest> decodePublishLine(std::string_view line) {
    if (auto error = detail::validateJson(line, kMaxDataDepth + 1, "line")) return *error;
    if (!detail::isObject(line)) {
        return err(ErrorCode::BadType, "a line must be a JSON object {\"channel\": ..., \"data\": ...}");
    }
    Fields fields(line);
    if (auto e = fields.only({"channel", "data", "idempotency_key"}, "a batch line")) return *e;
    PublishRequest request;
    if (auto e = readIdempotencyKey(fields, request.idempotencyKey)) return *e;
    auto channelText = fields.find("channel");
    auto channel = channelText ? detail::stringValue(*channelText) : std::nullopt;
    if (!channelText) return err(ErrorCode::MissingField, "a line needs a 'channel'");
    if (!channel) return err(ErrorCode::BadType, "'channel' must be a string");
    if (auto problem = channelNameProblem(*channel)) return err(ErrorCode::BadChannel, *problem);
    request.channel = std::move(*channel);
    auto data = fields.find("data");
    if (!data) return err(ErrorCode::MissingField, "a line needs 'data' (any JSON value)");
    request.dataJson = std::string(*data);
    return request;
}

Result<PublishAck> decodePublishAck(std::string_view text) {
    if (auto error = readServerDocument(text, "publish response")) return *error;
    Fields fields(text);
    if (auto error = errorFrom(fields)) return *error;
    auto seqText = fields.find("seq");
    auto seq = seqText ? detail::unsignedValue(*seqText) : std::nullopt;
    if (!seq) return err(ErrorCode::MissingField, "publish response has no 'seq'");
    return PublishAck{stringField(fields, "channel"), *seq};
}

Result<NegotiateInfo> decodeNegotiate(std::string_view text) {
    if (auto error = readServerDocument(text, "negotiate answer")) return *error;
    Fields fields(text);
    NegotiateInfo info;
    info.protocol = intField(fields, "protocol");
    info.websocketUrl = stringField(fields, "websocket_url");
    info.heartbeatMs = intField(fields, "heartbeat_ms");
    info.epoch = stringField(fields, "epoch");
    info.maxMessageBytes = unsignedField(fields, "max_message_bytes");
    if (auto tokens = fields.find("tokens")) info.tokens = detail::boolValue(*tokens).value_or(false);
    auto transports = fields.find("transports");
    if (!transports || !detail::isArray(*transports)) {
        return err(ErrorCode::MissingField, "negotiate answer has no 'transports' list");
    }
    for (std::string_view item : detail::arrayElements(*transports)) {
        if (auto name = detail::stringValue(item)) info.transports.push_back(std::move(*name));
    }
    return info;
}

std::optional<Error> decodeErrorBody(std::string_view text) {
    if (readServerDocument(text, "error body")) return std::nullopt;
    return errorFrom(Fields(text));
}

}  // namespace pushwire::protocol

namespace pushwire::protocol {

std::optional<std::int64_t> tokenExpiry(std::string_view jwt) {
    const std::size_t dot1 = jwt.find('.');
    const std::size_t dot2 = dot1 == std::string_view::npos ? dot1 : jwt.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos) return std::nullopt;
    std::string_view part = jwt.substr(dot1 + 1, dot2 - dot1 - 1);
    std::string payload;
    std::uint32_t buffer = 0;
    int bits = 0;
    for (char c : part) {
        int value = c >= 'A' && c <= 'Z'   ? c - 'A'
                    : c >= 'a' && c <= 'z' ? c - 'a' + 26
                    : c >= '0' && c <= '9' ? c - '0' + 52
                    : c == '-'             ? 62
                    : c == '_'             ? 63
                                           : -1;
        if (value < 0) return std::nullopt;
        buffer = (buffer << 6) | static_cast<std::uint32_t>(value);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            payload.push_back(static_cast<char>((buffer >> bits) & 0xff));
        }
    }
    if (detail::validateJson(payload, kMaxDataDepth, "token payload") || !detail::isObject(payload))
        return std::nullopt;
    auto exp = detail::Fields(payload).find("exp");
    if (!exp) return std::nullopt;
    return detail::integerValue(*exp);
}

}  // namespace pushwire::protocol
