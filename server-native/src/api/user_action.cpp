#include "api/user_action.hpp"

namespace pushwire::server::api {

using json = nlohmann::json;

const char* kindName(UserAction::Kind kind) {
    switch (kind) {
        case UserAction::Kind::Disconnect: return "disconnect";
        case UserAction::Kind::Unsubscribe: return "unsubscribe";
        case UserAction::Kind::Subscribe: return "subscribe";
        case UserAction::Kind::Revoke: return "revoke";
    }
    return "?";
}

json toJson(const UserAction& action) {
    return {{"kind", kindName(action.kind)}, {"user", action.user},           {"client", action.client},
            {"channel", action.channel},     {"reconnect", action.reconnect}, {"before", action.before}};
}

std::optional<UserAction> actionFromJson(const json& value) {
    if (!value.is_object()) return std::nullopt;
    auto text = [&](const char* name) -> std::optional<std::string> {
        auto it = value.find(name);
        if (it == value.end() || !it->is_string()) return std::nullopt;
        return it->get<std::string>();
    };
    auto kind = text("kind");
    auto user = text("user");
    auto client = text("client");
    auto channel = text("channel");
    auto reconnect = value.find("reconnect");
    auto before = value.find("before");
    if (!kind || !user || user->empty() || !client || !channel || reconnect == value.end() ||
        !reconnect->is_boolean() || before == value.end() || !before->is_number_integer()) {
        return std::nullopt;
    }
    UserAction action;
    bool known = false;
    for (auto k : {UserAction::Kind::Disconnect, UserAction::Kind::Unsubscribe, UserAction::Kind::Subscribe,
                   UserAction::Kind::Revoke}) {
        if (*kind == kindName(k)) {
            action.kind = k;
            known = true;
        }
    }
    if (!known) return std::nullopt;
    action.user = std::move(*user);
    action.client = std::move(*client);
    action.channel = std::move(*channel);
    action.reconnect = reconnect->get<bool>();
    action.before = before->get<std::int64_t>();
    return action;
}

std::int64_t applyLocally(const UserAction& action, Context& context, Revocations& revocations) {
    const std::int64_t now = context.nowMs();
    SessionRegistry& registry = context.sessions;
    std::int64_t reached = 0;
    if (action.kind == UserAction::Kind::Revoke) revocations.revoke(action.user, action.before, now / 1000);
    auto clientMatches = [&](const std::string& client) { return action.client.empty() || client == action.client; };
    // Poll clients between requests: marked, and told at their next request.
    if (action.kind != UserAction::Kind::Revoke) {  // a revoked poller's next request is refused anyway
        for (auto& [client, poller] : registry.pollersOf(action.user, now)) {
            if (!clientMatches(client)) continue;
            ++reached;
            switch (action.kind) {
                case UserAction::Kind::Disconnect:
                    poller->disconnectedUntilMs = now + SessionRegistry::kDisconnectedMs;
                    poller->reconnect = action.reconnect;
                    break;
                case UserAction::Kind::Unsubscribe:
                    poller->unsubscribed.insert(action.channel);
                    poller->subscribe.erase(action.channel);
                    break;
                case UserAction::Kind::Subscribe:
                    poller->subscribe.insert(action.channel);
                    poller->unsubscribed.erase(action.channel);
                    break;
                case UserAction::Kind::Revoke: break;
            }
        }
    }
    // Open connections (a parked long-poll answers at once: its poller was counted).
    for (ControlledSession* session : registry.sessionsOf(action.user)) {
        if (!clientMatches(session->clientId())) continue;
        bool counted = false;
        switch (action.kind) {
            case UserAction::Kind::Disconnect:
                session->disconnectByServer(action.reconnect);
                counted = true;
                break;
            case UserAction::Kind::Unsubscribe: counted = session->unsubscribeByServer(action.channel); break;
            case UserAction::Kind::Subscribe: counted = session->subscribeByServer(action.channel); break;
            case UserAction::Kind::Revoke:
                if (session->tokenIssuedAt() < action.before) {
                    session->revokeByServer();
                    counted = true;
                }
                break;
        }
        if (counted && !session->polling()) ++reached;
    }
    return reached;
}

}  // namespace pushwire::server::api
