#include "pushwire/protocol/presence.hpp"

#include "json_util.hpp"

namespace pushwire::protocol {

using detail::quote;

std::string encodeMember(const Member& member) {
    return "{\"client\":" + quote(member.client) + ",\"user\":" + quote(member.user) +
           ",\"info\":" + (member.infoJson.empty() ? std::string("null") : member.infoJson) + "}";
}

std::string_view entryEventName(EntryEvent event) {
    switch (event) {
        case EntryEvent::Join: return "join";
        case EntryEvent::Leave: return "leave";
        case EntryEvent::Message: break;
    }
    return "message";
}

std::string encodeJoinLeaveEntry(std::string_view channel, std::uint64_t seq, EntryEvent event,
                                 std::string_view memberJson, std::int64_t timeMs) {
    std::string out = "{\"channel\":" + quote(channel) + ",\"seq\":" + std::to_string(seq) + ",\"event\":\"";
    out += entryEventName(event);
    out += "\",\"member\":";
    out += memberJson;
    out += ",\"time\":" + std::to_string(timeMs) + "}";
    return out;
}

EntryEvent entryEventOf(std::string_view entry) {
    // {"channel":"<name>","seq":<digits>,<next field>: channel names need no escaping, so
    // the first `"seq":` is the field's.
    const std::size_t seq = entry.find("\"seq\":");
    if (seq == std::string_view::npos) return EntryEvent::Message;
    std::size_t at = seq + 6;
    while (at < entry.size() && entry[at] >= '0' && entry[at] <= '9') ++at;
    const std::string_view rest = entry.substr(at);
    if (rest.rfind(",\"event\":\"join\"", 0) == 0) return EntryEvent::Join;
    if (rest.rfind(",\"event\":\"leave\"", 0) == 0) return EntryEvent::Leave;
    return EntryEvent::Message;
}

namespace {
std::string idField(std::string_view idJson) {
    return idJson.empty() ? std::string() : ",\"id\":" + std::string(idJson);
}
std::string typeField(std::string_view type) {
    return type.empty() ? std::string("{") : "{\"type\":" + quote(type) + ",";
}
}  // namespace

std::string encodePresenceAnswer(std::string_view type, std::string_view idJson, std::string_view channel,
                                 std::string_view membersJson, std::string_view position, bool truncated) {
    std::string out = typeField(type) + "\"channel\":" + quote(channel) + ",\"members\":[";
    out += membersJson;
    out += "],\"position\":" + quote(position);
    if (truncated) out += ",\"truncated\":true";
    return out + idField(idJson) + "}";
}

std::string encodePresenceStatsAnswer(std::string_view type, std::string_view idJson, std::string_view channel,
                                      std::uint64_t clients, std::uint64_t users) {
    return typeField(type) + "\"channel\":" + quote(channel) + ",\"clients\":" + std::to_string(clients) +
           ",\"users\":" + std::to_string(users) + idField(idJson) + "}";
}

}  // namespace pushwire::protocol
