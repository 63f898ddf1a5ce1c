#include "pushwire/protocol/envelope.hpp"

#include "json_util.hpp"
#include "pushwire/protocol/cursor.hpp"

namespace pushwire::protocol {

using detail::Fields;
using detail::quote;

std::string encodeEnvelope(const Envelope& envelope) {
    if (envelope.event != EntryEvent::Message) {
        return encodeJoinLeaveEntry(envelope.channel, envelope.seq, envelope.event, encodeMember(envelope.member),
                                    envelope.timeMs);
    }
    std::string out;
    out.reserve(envelope.channel.size() + envelope.dataJson.size() + 64);
    out += "{\"channel\":";
    out += quote(envelope.channel);
    out += ",\"seq\":";
    out += std::to_string(envelope.seq);
    out += ",\"data\":";
    out += envelope.dataJson.empty() ? std::string("null") : envelope.dataJson;
    out += ",\"time\":";
    out += std::to_string(envelope.timeMs);
    out += '}';
    return out;
}

Result<Envelope> detail::envelopeFromJson(std::string_view object) {
    if (!isObject(object)) return Error{ErrorCode::BadType, "message is not a JSON object"};
    Fields fields(object);
    auto channelText = fields.find("channel");
    auto seqText = fields.find("seq");
    auto channel = channelText ? stringValue(*channelText) : std::nullopt;
    auto seq = seqText ? unsignedValue(*seqText) : std::nullopt;
    if (!channel || !seq) {
        return Error{ErrorCode::MissingField, "message needs a string channel and a seq"};
    }
    Envelope envelope;
    envelope.channel = std::move(*channel);
    envelope.seq = *seq;
    // An integer only: a float such as 1e21 has no int64 value.
    if (auto time = fields.find("time")) envelope.timeMs = integerValue(*time).value_or(0);
    if (auto eventText = fields.find("event")) {
        auto event = stringValue(*eventText);
        if (!event || (*event != "join" && *event != "leave")) {
            return Error{ErrorCode::BadType, "an entry's 'event' must be \"join\" or \"leave\""};
        }
        envelope.event = *event == "join" ? EntryEvent::Join : EntryEvent::Leave;
        auto member = fields.find("member");
        auto decoded = member ? detail::memberFromJson(*member) : std::nullopt;
        if (!decoded) return Error{ErrorCode::MissingField, "a join or leave entry needs a 'member' with a 'client'"};
        envelope.member = std::move(*decoded);
        envelope.dataJson = "null";
        return envelope;
    }
    auto data = fields.find("data");
    envelope.dataJson = data ? std::string(*data) : "null";
    return envelope;
}

std::optional<Member> detail::memberFromJson(std::string_view object) {
    if (!isObject(object)) return std::nullopt;
    Fields fields(object);
    auto clientText = fields.find("client");
    auto client = clientText ? stringValue(*clientText) : std::nullopt;
    if (!client) return std::nullopt;
    protocol::Member member;
    member.client = std::move(*client);
    if (auto user = fields.find("user")) member.user = stringValue(*user).value_or("");
    if (auto info = fields.find("info")) member.infoJson = std::string(*info);
    return member;
}

Result<Envelope> decodeEnvelope(std::string_view text) {
    if (auto error = detail::validateJson(text, detail::kAnyDepth, "message")) return *error;
    return detail::envelopeFromJson(text);
}

std::string_view gapReasonName(GapReason reason) {
    return reason == GapReason::EpochChanged ? "epoch_changed" : "evicted";
}

std::string encodeGap(const Gap& gap) {
    std::string out = "{\"channel\":" + quote(gap.channel) + ",\"from\":" + std::to_string(gap.from) +
                      ",\"to\":" + (gap.to ? std::to_string(*gap.to) : std::string("null")) + ",\"reason\":\"" +
                      std::string(gapReasonName(gap.reason)) + "\"";
    if (!gap.epoch.empty()) out += ",\"epoch\":\"" + gap.epoch + "\"";
    return out + "}";
}

Result<Gap> detail::gapFromJson(std::string_view object) {
    if (!isObject(object)) return Error{ErrorCode::BadType, "gap is not a JSON object"};
    Fields fields(object);
    auto channelText = fields.find("channel");
    auto fromText = fields.find("from");
    auto channel = channelText ? stringValue(*channelText) : std::nullopt;
    auto from = fromText ? unsignedValue(*fromText) : std::nullopt;
    if (!channel || !from) return Error{ErrorCode::MissingField, "gap needs channel and from"};
    Gap gap;
    gap.channel = std::move(*channel);
    gap.from = *from;
    if (auto to = fields.find("to")) gap.to = unsignedValue(*to);
    auto reasonText = fields.find("reason");
    auto reason = reasonText ? stringValue(*reasonText) : std::nullopt;
    gap.reason = (reason && *reason == "epoch_changed") ? GapReason::EpochChanged : GapReason::HistoryEvicted;
    if (auto epochText = fields.find("epoch")) {
        auto epoch = stringValue(*epochText);
        if (epoch && isValidEpoch(*epoch)) gap.epoch = std::move(*epoch);
    }
    return gap;
}

Result<Gap> decodeGap(std::string_view text) {
    if (auto error = detail::validateJson(text, detail::kAnyDepth, "gap")) return *error;
    return detail::gapFromJson(text);
}

}  // namespace pushwire::protocol
