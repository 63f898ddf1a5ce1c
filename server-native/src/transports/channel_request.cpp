#include "transports/channel_request.hpp"

#include <algorithm>
#include <unordered_set>

#include "front/http_connection.hpp"
#include "pushwire/protocol/channel_name.hpp"

namespace pushwire::server {

using protocol::Error;
using protocol::ErrorCode;

protocol::Result<ChannelRequest> readChannelRequest(const HttpRequest& request, const Settings& settings,
                                                    bool lastEventId) {
    ChannelRequest out;
    // Linear, and it stops at the first name past the limit: a request naming thousands
    // of channels costs no more than one naming the most allowed.
    std::unordered_set<std::string> seen;
    std::optional<Error> problem;
    auto add = [&](std::string_view name) {
        if (problem) return;
        if (auto bad = protocol::channelNameProblem(name)) {
            problem = Error{ErrorCode::BadChannel, *bad};
            return;
        }
        if (!seen.emplace(name).second) return;
        if (seen.size() > settings.maxChannelsPerRequest) {
            problem = Error{ErrorCode::BadRequest, "more than " + std::to_string(settings.maxChannelsPerRequest) +
                                                       " channels requested; at most " +
                                                       std::to_string(settings.maxChannelsPerRequest) + " per request"};
            return;
        }
        out.channels.emplace_back(name);
    };
    for (const auto& [key, value] : request.query) {
        if (key == "channel") {
            add(value);
        } else if (key == "channels") {
            std::string_view list = value;
            std::size_t start = 0;
            while (start <= list.size() && !problem) {
                std::size_t comma = list.find(',', start);
                if (comma == std::string_view::npos) comma = list.size();
                add(list.substr(start, comma - start));
                start = comma + 1;
            }
        }
        if (problem) return *problem;
    }
    if (out.channels.empty()) {
        return Error{ErrorCode::MissingField, "no channel given; expected channel=NAME (repeatable) or channels=A,B"};
    }
    std::string_view position;
    const char* source = "since";
    if (lastEventId) {
        if (std::string_view header = request.header("Last-Event-ID"); !header.empty()) {
            position = header;
            source = "Last-Event-ID";
        } else if (const std::string* param = request.param("last_event_id")) {
            position = *param;
            source = "last_event_id";
        }
    }
    if (position.empty()) {
        if (const std::string* since = request.param("since")) {
            if (since->empty()) return Error{ErrorCode::BadCursor, "since is empty"};
            position = *since;
        }
    }
    if (!position.empty()) {
        auto cursor = protocol::parseCursor(position);
        if (!cursor) {
            return Error{ErrorCode::BadCursor, std::string(source) + ": " + cursor.error().message};
        }
        out.cursor = std::move(cursor.value());
    }
    return out;
}

std::optional<ChannelRequest> readChannelRequestOrAnswer(Context& context, const HttpRequest& request,
                                                         HttpConnection& connection, bool lastEventId) {
    auto parsed = readChannelRequest(request, context.settings, lastEventId);
    if (!parsed) {
        ++context.metrics.errors;
        connection.respondError(parsed.error().code, parsed.error().message);
        return std::nullopt;
    }
    return std::move(parsed.value());
}

std::optional<std::vector<StartPoint>> resolveOrAnswer(Context& context, const ChannelRequest& request,
                                                       HttpConnection& connection) {
    auto points = context.hub.resolve(request.channels, request.cursor ? &*request.cursor : nullptr);
    if (!points) {
        ++context.metrics.errors;
        connection.respondError(points.error().code, points.error().message);
        return std::nullopt;
    }
    return std::move(points.value());
}

void respondBatch(Context& context, TransportKind kind, const Batch& batch, const std::vector<StartPoint>& points,
                  HttpConnection& connection) {
    context.metrics.delivered(kind, batch.messages.size());
    context.metrics.gaps += batch.gaps.size();
    connection.respondJson(encodeBatch(batch, cursorText(points)));
}

void answerBatch(Context& context, TransportKind kind, const Batch& batch, const std::vector<StartPoint>& points,
                 HttpConnection& connection) {
    context.metrics.opened(kind);
    context.metrics.closed(kind);
    respondBatch(context, kind, batch, points, connection);
}

Batch collectBatch(const Hub& hub, std::vector<StartPoint>& points, std::size_t limit, std::size_t maxBytes) {
    Batch batch;
    std::size_t bytes = 0;
    for (StartPoint& point : points) {
        if (point.epochGap) {
            batch.gaps.push_back(*point.epochGap);
            point.epochGap.reset();
        }
        const std::size_t room = limit > batch.messages.size() ? limit - batch.messages.size() : 0;
        const std::size_t roomBytes = maxBytes > bytes ? maxBytes - bytes : 0;
        if (room == 0 || (roomBytes == 0 && !batch.messages.empty())) {
            batch.more = batch.more || hub.head(point.channel) > point.after;
            continue;
        }
        // The first message of an answer is always taken, however large: every message
        // can be delivered.
        Backlog backlog =
            hub.readAfter(point.channel, point.after, room, batch.messages.empty() ? maxBytes : roomBytes);
        if (backlog.gap) {
            batch.gaps.push_back(*backlog.gap);
            point.after = *backlog.gap->to;
        }
        for (MessagePtr& message : backlog.messages) {
            if (!batch.messages.empty() && bytes + message->envelope.size() > maxBytes) {
                backlog.more = true;
                break;
            }
            point.after = message->seq;
            bytes += message->envelope.size();
            batch.messages.push_back(std::move(message));
        }
        batch.more = batch.more || backlog.more;
    }
    return batch;
}

std::string cursorText(const std::vector<StartPoint>& points) {
    std::vector<protocol::ChannelPosition> positions;
    positions.reserve(points.size());
    for (const StartPoint& point : points) positions.push_back({point.channel, point.after, point.epoch});
    return protocol::encodeCursor(positions);
}

std::string encodeBatch(const Batch& batch, const std::string& cursor) {
    std::size_t size = 64 + cursor.size();
    for (const MessagePtr& message : batch.messages) size += message->envelope.size() + 1;
    std::string out;
    out.reserve(size);
    out += "{\"messages\":[";
    for (std::size_t i = 0; i < batch.messages.size(); ++i) {
        if (i) out.push_back(',');
        out += batch.messages[i]->envelope;
    }
    out += "],\"gaps\":[";
    for (std::size_t i = 0; i < batch.gaps.size(); ++i) {
        if (i) out.push_back(',');
        out += protocol::encodeGap(batch.gaps[i]);
    }
    out += "],\"cursor\":\"";
    out += cursor;  // cursor characters never need JSON escaping
    out += batch.more ? "\",\"more\":true}" : "\",\"more\":false}";
    return out;
}

}  // namespace pushwire::server
