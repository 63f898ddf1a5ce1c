#include "transports/channel_request.hpp"

#include <algorithm>

#include "front/http_server.hpp"
#include "pushwire/protocol/channel_name.hpp"

namespace pushwire::server {

using protocol::Error;
using protocol::ErrorCode;

protocol::Result<ChannelRequest> readChannelRequest(const HttpRequest& request, const Settings& settings,
                                                    bool lastEventId) {
    ChannelRequest out;
    auto add = [&out](std::string name) {
        if (std::find(out.channels.begin(), out.channels.end(), name) == out.channels.end()) {
            out.channels.push_back(std::move(name));
        }
    };
    for (std::string& name : request.params("channel")) add(std::move(name));
    for (const std::string& list : request.params("channels")) {
        std::size_t start = 0;
        while (start <= list.size()) {
            std::size_t comma = list.find(',', start);
            if (comma == std::string::npos) comma = list.size();
            add(list.substr(start, comma - start));
            start = comma + 1;
        }
    }
    if (out.channels.empty()) {
        return Error{ErrorCode::MissingField, "no channel given; expected channel=NAME (repeatable) or channels=A,B"};
    }
    if (out.channels.size() > settings.maxChannelsPerRequest) {
        return Error{ErrorCode::BadRequest, std::to_string(out.channels.size()) + " channels requested; at most " +
                                                std::to_string(settings.maxChannelsPerRequest) + " per request"};
    }
    for (const std::string& name : out.channels) {
        if (auto problem = protocol::channelNameProblem(name)) {
            return Error{ErrorCode::BadChannel, *problem};
        }
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

void respondBatch(Context& context, TransportKind kind, const Batch& batch, const std::vector<StartPoint>& points,
                  HttpConnection& connection) {
    context.metrics.delivered(kind, batch.messages.size());
    context.metrics.gaps += batch.gaps.size();
    connection.respondJson(encodeBatch(batch, cursorText(context.hub.epoch(), points)));
}

void answerBatch(Context& context, TransportKind kind, const Batch& batch, const std::vector<StartPoint>& points,
                 HttpConnection& connection) {
    context.metrics.opened(kind);
    context.metrics.closed(kind);
    respondBatch(context, kind, batch, points, connection);
}

Batch collectBatch(const Hub& hub, std::vector<StartPoint>& points, std::size_t limit) {
    Batch batch;
    for (StartPoint& point : points) {
        if (point.epochGap) {
            batch.gaps.push_back(*point.epochGap);
            point.epochGap.reset();
        }
        std::size_t room = limit > batch.messages.size() ? limit - batch.messages.size() : 0;
        if (room == 0) {
            batch.more = batch.more || hub.head(point.channel) > point.after;
            continue;
        }
        Backlog backlog = hub.readAfter(point.channel, point.after, room);
        if (backlog.gap) {
            batch.gaps.push_back(*backlog.gap);
            point.after = *backlog.gap->to;
        }
        for (MessagePtr& message : backlog.messages) {
            point.after = message->seq;
            batch.messages.push_back(std::move(message));
        }
        batch.more = batch.more || hub.head(point.channel) > point.after;
    }
    return batch;
}

std::string cursorText(const std::string& epoch, const std::vector<StartPoint>& points) {
    std::string out = epoch;
    out.push_back('~');
    for (std::size_t i = 0; i < points.size(); ++i) {
        if (i) out.push_back(',');
        protocol::appendCursorEntry(out, points[i].channel, points[i].after);
    }
    return out;
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
