#include "pushwire/protocol/envelope.hpp"

#include "json_util.hpp"

namespace pushwire::protocol {

using detail::asSeq;
using detail::asString;
using detail::field;
using detail::json;
using detail::quote;

std::string encodeEnvelope(const Envelope& envelope) {
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

Result<Envelope> detail::envelopeFromJson(const json& value) {
    if (!value.is_object()) return Error{ErrorCode::BadType, "message is not a JSON object"};
    auto channel = asString(field(value, "channel"));
    auto seq = asSeq(field(value, "seq"));
    if (!channel || !seq) {
        return Error{ErrorCode::MissingField, "message needs a string channel and a seq"};
    }
    Envelope envelope;
    envelope.channel = std::move(*channel);
    envelope.seq = *seq;
    const json* data = field(value, "data");
    envelope.dataJson = data ? detail::dumpJson(*data) : "null";
    const json* time = field(value, "time");
    // An integer only: converting a float such as 1e21 to int64 is undefined (the fuzz
    // target found it).
    if (time && time->is_number_integer()) envelope.timeMs = time->get<std::int64_t>();
    return envelope;
}

Result<Envelope> decodeEnvelope(std::string_view text) {
    json value = detail::parseJson(text);
    if (value.is_discarded()) return Error{ErrorCode::BadJson, "message is not valid JSON"};
    return detail::envelopeFromJson(value);
}

std::string_view gapReasonName(GapReason reason) {
    return reason == GapReason::EpochChanged ? "epoch_changed" : "evicted";
}

std::string encodeGap(const Gap& gap) {
    std::string out = "{\"channel\":" + quote(gap.channel) + ",\"from\":" + std::to_string(gap.from) +
                      ",\"to\":" + (gap.to ? std::to_string(*gap.to) : std::string("null")) + ",\"reason\":\"" +
                      std::string(gapReasonName(gap.reason)) + "\"}";
    return out;
}

Result<Gap> detail::gapFromJson(const json& value) {
    if (!value.is_object()) return Error{ErrorCode::BadType, "gap is not a JSON object"};
    auto channel = asString(field(value, "channel"));
    auto from = asSeq(field(value, "from"));
    if (!channel || !from) return Error{ErrorCode::MissingField, "gap needs channel and from"};
    Gap gap;
    gap.channel = std::move(*channel);
    gap.from = *from;
    gap.to = asSeq(field(value, "to"));
    auto reason = asString(field(value, "reason"));
    gap.reason = (reason && *reason == "epoch_changed") ? GapReason::EpochChanged : GapReason::HistoryEvicted;
    return gap;
}

Result<Gap> decodeGap(std::string_view text) {
    json value = detail::parseJson(text);
    if (value.is_discarded()) return Error{ErrorCode::BadJson, "gap is not valid JSON"};
    return detail::gapFromJson(value);
}

}  // namespace pushwire::protocol
