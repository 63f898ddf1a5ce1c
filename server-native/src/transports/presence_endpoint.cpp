#include "transports/presence_endpoint.hpp"

#include "pushwire/protocol/channel_name.hpp"
#include "pushwire/protocol/cursor.hpp"
#include "transports/channel_request.hpp"

namespace pushwire::server {

using protocol::Error;
using protocol::ErrorCode;

std::optional<Error> presenceRefusal(const Context& context, const Caller& caller, const std::string& channel) {
    if (!context.presence || !context.presence->tracks(channel)) {
        return Error{ErrorCode::NotFound, "channel '" + channel + "' has no presence (--presence)"};
    }
    return context.access.checkSubscribe(caller, channel);
}

std::string encodeMembers(const PresenceSnapshot& snapshot) {
    std::string out;
    for (const std::string& member : snapshot.members) {
        if (!out.empty()) out.push_back(',');
        out += member;
    }
    return out;
}

std::string positionCursor(const std::string& channel, const StreamHead& position) {
    return protocol::encodeCursor({protocol::ChannelPosition{channel, position.seq, position.epoch}});
}

void readPresence(Context& context, const std::string& channel, bool statsOnly, const std::string& type,
                  const std::string& idJson, std::function<void(protocol::Result<std::string>)> done) {
    Presence& store = context.presence->store();
    if (statsOnly) {
        store.counts(channel, [channel, type, idJson, done](protocol::Result<PresenceCounts> counts) {
            if (!counts) {
                done(counts.error());
                return;
            }
            done(protocol::encodePresenceStatsAnswer(type, idJson, channel, counts->clients, counts->users));
        });
        return;
    }
    store.snapshot(
        channel, context.presence->settings().maxMembers,
        [channel, type, idJson, done](protocol::Result<PresenceSnapshot> snapshot) {
            if (!snapshot) {
                done(snapshot.error());
                return;
            }
            done(protocol::encodePresenceAnswer(type, idJson, channel, encodeMembers(*snapshot),
                                                positionCursor(channel, snapshot->position), snapshot->truncated));
        });
}

void handlePresence(Context& context, HttpRequest& request, const HttpConnectionPtr& connection) {
    if (request.method != "GET" && request.method != "HEAD") {
        ++context.metrics.errors;
        connection->respondError(ErrorCode::MethodNotAllowed, "expected GET, got " + request.method);
        return;
    }
    const std::string* channel = request.param("channel");
    if (!channel) {
        ++context.metrics.errors;
        connection->respondError(ErrorCode::MissingField, "no channel given; expected channel=NAME");
        return;
    }
    // One channel's presence per request: a second channel= (or stats=) is refused, not ignored.
    for (const char* once : {"channel", "stats"}) {
        if (const std::size_t given = request.params(once).size(); given > 1) {
            ++context.metrics.errors;
            connection->respondError(ErrorCode::BadRequest, std::string(once) + " given " + std::to_string(given) +
                                                                " times; the presence of one channel per request");
            return;
        }
    }
    if (auto problem = protocol::channelNameProblem(*channel)) {
        ++context.metrics.errors;
        connection->respondError(ErrorCode::BadChannel, *problem);
        return;
    }
    bool statsOnly = false;
    if (const std::string* stats = request.param("stats")) {
        if (*stats != "1" && *stats != "0" && *stats != "true" && *stats != "false") {
            ++context.metrics.errors;
            connection->respondError(ErrorCode::BadRequest, "stats must be 1 or 0, got '" + *stats + "'");
            return;
        }
        statsOnly = *stats == "1" || *stats == "true";
    }
    auto caller = identifyOrAnswer(context, request, *connection);
    if (!caller) return;
    if (auto refusal = presenceRefusal(context, *caller, *channel)) {
        ++context.metrics.errors;
        context.metrics.refused(refusal->code);
        connection->respondError(refusal->code, refusal->message);
        return;
    }
    // The answer may come later (a remote store): the request stays parked until then.
    connection->hold(std::make_unique<ParkedRequest>(), std::chrono::milliseconds(0));
    readPresence(context, *channel, statsOnly, "", "", [&context, connection](protocol::Result<std::string> answer) {
        if (!answer) {
            ++context.metrics.errors;
            connection->respondError(answer.error().code, answer.error().message);
            return;
        }
        connection->respondJson(*answer);
    });
}

}  // namespace pushwire::server
