#include "api/api_endpoint.hpp"

#include "auth/channel_patterns.hpp"
#include "pushwire/protocol/channel_name.hpp"
#include "pushwire/protocol/cursor.hpp"
#include "pushwire/protocol/envelope.hpp"
#include "transports/channel_request.hpp"
#include "transports/presence_endpoint.hpp"

namespace pushwire::server::api {

using json = nlohmann::json;
using protocol::Error;
using protocol::ErrorCode;

namespace {

bool isClientId(const std::string& text) {
    if (text.size() != 32) return false;
    for (char c : text) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

}  // namespace

ApiEndpoint::ApiEndpoint(Context& context, Actions& actions, std::int64_t maxTokenLifetimeSeconds)
    : context_(context), actions_(actions), maxTokenLifetime_(maxTokenLifetimeSeconds) {
    methods_ = {{"history", &ApiEndpoint::history},
                {"channels", &ApiEndpoint::channels},
                {"info", &ApiEndpoint::info},
                {"disconnect", &ApiEndpoint::disconnect},
                {"unsubscribe", &ApiEndpoint::unsubscribe},
                {"subscribe", &ApiEndpoint::subscribe},
                {"revoke", &ApiEndpoint::revoke},
                {"presence", &ApiEndpoint::presence},
                {"presence_stats", &ApiEndpoint::presenceStats}};
}

void ApiEndpoint::handle(HttpRequest& request, const HttpConnectionPtr& connection) {
    const std::string name = request.path.substr(std::min(request.path.size(), std::string(kPrefix).size()));
    auto method = methods_.find(name);
    const std::string label = method == methods_.end() ? "unknown" : name;
    auto refuse = [&](ErrorCode code, const std::string& message) {
        ++context_.metrics.errors;
        context_.metrics.refused(code);
        count(label, std::string(protocol::errorCodeName(code)));
        connection->respondError(code, message);
    };
    // Who calls first: a stranger learns nothing, not even which methods exist.
    auto caller = context_.access.identify(request, context_.nowMs());
    if (!caller) return refuse(caller.error().code, caller.error().message);
    if (!context_.access.open() && caller->kind != Caller::Kind::Backend) {
        if (caller->kind == Caller::Kind::User) {
            return refuse(ErrorCode::Forbidden, "the server API is for the backend: " + caller->describe() +
                                                    " may not call it (use Authorization: ApiKey KEY)");
        }
        return refuse(ErrorCode::Unauthorized, "the server API needs Authorization: ApiKey KEY (--api-key-file)");
    }
    if (method == methods_.end()) {
        std::string known;
        for (const auto& entry : methods_) known += (known.empty() ? "" : ", ") + entry.first;
        return refuse(ErrorCode::UnknownMethod,
                      "no API method '" + name.substr(0, 64) + "' (POST /pushwire/api/METHOD; methods: " + known + ")");
    }
    if (request.method != "POST") {
        return refuse(ErrorCode::MethodNotAllowed, "expected POST with a JSON object body, got " + request.method);
    }
    if (request.body.size() > kMaxBodyBytes) {
        return refuse(ErrorCode::TooLarge, "the body is " + std::to_string(request.body.size()) +
                                               " bytes; an API call takes at most " + std::to_string(kMaxBodyBytes));
    }
    auto body = ApiBody::parse(request.body);
    if (!body) return refuse(body.error().code, body.error().message);
    // The answer may come later (other nodes, a remote broker): parked until then.
    connection->hold(std::make_unique<ParkedRequest>(), std::chrono::milliseconds(0));
    (this->*(method->second))(*body, [this, label, connection](protocol::Result<std::string> answer) {
        if (!answer) {
            ++context_.metrics.errors;
            count(label, std::string(protocol::errorCodeName(answer.error().code)));
            connection->respondError(answer.error().code, answer.error().message);
            return;
        }
        count(label, "ok");
        connection->respondJson(std::move(answer.value()));
    });
}

void ApiEndpoint::presence(ApiBody& body, Answer answer) { readPresence(body, false, std::move(answer)); }

void ApiEndpoint::presenceStats(ApiBody& body, Answer answer) { readPresence(body, true, std::move(answer)); }

// The same read as GET /pushwire/presence (a Redis store is every node's), without rights.
void ApiEndpoint::readPresence(ApiBody& body, bool statsOnly, Answer answer) {
    const std::string channel = body.channel();
    if (auto problem = body.problem()) return answer(*problem);
    if (!context_.presence || !context_.presence->tracks(channel)) {
        return answer(Error{ErrorCode::NotFound, "channel '" + channel + "' has no presence (--presence)"});
    }
    server::readPresence(context_, channel, statsOnly, "", "", std::move(answer));
}

void ApiEndpoint::history(ApiBody& body, Answer answer) {
    const std::string channel = body.channel();
    const auto since = body.optionalString("since", protocol::kMaxCursorLength);
    const auto limit = body.optionalInteger("limit", 1, 1000);
    if (auto problem = body.problem()) return answer(*problem);
    HistoryQuery query;
    query.channel = channel;
    query.limit = static_cast<std::size_t>(limit.value_or(100));
    if (since && !since->empty()) {
        auto cursor = protocol::parseCursor(*since);
        if (!cursor) return answer(Error{ErrorCode::BadCursor, "since: " + cursor.error().message});
        auto positions = protocol::positionsFor(*cursor, {channel});
        if (!positions) return answer(Error{ErrorCode::BadCursor, "since: " + positions.error().message});
        if (const auto& position = positions->front()) {
            query.after = position->seq;
            query.epoch = position->epoch;
        }
    }
    context_.hub.read(query, [answer, channel](protocol::Result<HistoryPage> page) {
        if (!page) return answer(page.error());
        std::string out = "{\"messages\":[";
        for (std::size_t i = 0; i < page->messages.size(); ++i) {
            if (i) out += ',';
            out += page->messages[i]->envelope;
        }
        // The position after what is returned: give it back as `since` for what follows.
        const std::uint64_t last = page->messages.empty() ? page->head.seq : page->messages.back()->seq;
        std::string position;
        protocol::appendSingleCursor(position, page->head.epoch, channel, last);
        out += "],\"position\":" + json(position).dump();
        out += page->more ? ",\"more\":true" : ",\"more\":false";
        if (page->gap) out += ",\"gap\":" + protocol::encodeGap(*page->gap);
        answer(out + "}");
    });
}

void ApiEndpoint::channels(ApiBody& body, Answer answer) {
    const auto pattern = body.optionalString("pattern", protocol::kMaxChannelNameLength);
    const auto cursor = body.optionalString("cursor", 256);
    const auto limit = body.optionalInteger("limit", 1, 1000);
    if (auto problem = body.problem()) return answer(*problem);
    ChannelListQuery query;
    query.limit = static_cast<std::size_t>(limit.value_or(100));
    query.cursor = cursor.value_or("");
    if (pattern && *pattern != "*") {
        std::string problem;
        std::optional<ChannelPatterns> patterns;
        if (pattern->find(',') == std::string::npos) patterns = ChannelPatterns::parse(*pattern, &problem);
        if (!patterns) {
            return answer(Error{ErrorCode::BadRequest,
                                "pattern: " + (problem.empty() ? std::string("one pattern, no commas") : problem)});
        }
        query.pattern = *pattern;
        query.matches = [only = *patterns](std::string_view channel) { return only.matches(channel); };
    }
    context_.hub.broker().channels(query, [answer](protocol::Result<ChannelList> page) {
        if (!page) return answer(page.error());
        json out = {{"channels", page->channels}, {"cursor", nullptr}};
        if (!page->next.empty()) out["cursor"] = page->next;
        answer(out.dump());
    });
}

void ApiEndpoint::info(ApiBody& body, Answer answer) {
    if (auto problem = body.problem()) return answer(*problem);
    actions_.nodes([answer](protocol::Result<json> nodes) {
        if (!nodes) return answer(nodes.error());
        answer(json{{"nodes", *nodes}}.dump(-1, ' ', false, json::error_handler_t::replace));
    });
}

void ApiEndpoint::disconnect(ApiBody& body, Answer answer) {
    UserAction action;
    action.kind = UserAction::Kind::Disconnect;
    action.user = body.requiredString("user", kMaxUserLength);
    action.client = body.optionalString("client", 64).value_or("");
    action.reconnect = body.optionalBool("reconnect").value_or(false);
    if (auto problem = body.problem()) return answer(*problem);
    if (!action.client.empty() && !isClientId(action.client)) {
        return answer(Error{ErrorCode::BadRequest,
                            "client: expected a client id (32 lowercase hex digits), got '" + action.client + "'"});
    }
    runAction(action, "disconnected", std::move(answer));
}

void ApiEndpoint::unsubscribe(ApiBody& body, Answer answer) {
    userChannel(body, UserAction::Kind::Unsubscribe, std::move(answer));
}

void ApiEndpoint::subscribe(ApiBody& body, Answer answer) {
    userChannel(body, UserAction::Kind::Subscribe, std::move(answer));
}

void ApiEndpoint::userChannel(ApiBody& body, UserAction::Kind kind, Answer answer) {
    UserAction action;
    action.kind = kind;
    action.user = body.requiredString("user", kMaxUserLength);
    action.channel = body.channel();
    if (auto problem = body.problem()) return answer(*problem);
    runAction(action, "connections", std::move(answer));
}

void ApiEndpoint::revoke(ApiBody& body, Answer answer) {
    const std::int64_t now = context_.nowMs() / 1000;
    UserAction action;
    action.kind = UserAction::Kind::Revoke;
    action.user = body.requiredString("user", kMaxUserLength);
    // A time ahead of now revokes the tokens issued until then too; no further ahead than
    // a revocation is kept.
    action.before = body.optionalInteger("before", 0, now + maxTokenLifetime_).value_or(now);
    if (auto problem = body.problem()) return answer(*problem);
    runAction(action, nullptr, std::move(answer));
}

void ApiEndpoint::runAction(const UserAction& action, const char* field, Answer answer) {
    actions_.run(action, [answer, field](protocol::Result<std::int64_t> reached) {
        if (!reached) return answer(reached.error());
        answer(field ? "{\"" + std::string(field) + "\":" + std::to_string(*reached) + "}" : std::string("{}"));
    });
}

}  // namespace pushwire::server::api
