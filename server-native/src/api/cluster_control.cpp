#include "api/cluster_control.hpp"

#include <asio/post.hpp>

namespace pushwire::server::api {

using json = nlohmann::json;
using protocol::Error;
using protocol::ErrorCode;

namespace {

constexpr std::chrono::milliseconds kCommandTimeout{2000};

// Keeps the later `before` of a user, and trims what is past keeping (ARGV[3]: now - lifetime).
constexpr const char* kRevokeScript = R"lua(
local current = redis.call('ZSCORE', KEYS[1], ARGV[1])
if (not current) or tonumber(current) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
return 1
)lua";

// "MOVED <slot> <host>:<port>" (or ASK): the address; "" when it is not one.
std::string redirectionTarget(const std::string& error) {
    const auto space = error.rfind(' ');
    if (space == std::string::npos || space + 1 >= error.size()) return "";
    return error.substr(space + 1);
}

bool isMoved(const RedisValue* reply) { return reply && reply->isError() && reply->text.rfind("MOVED ", 0) == 0; }

// A connection replaced from inside its own callback: destroyed on a later turn.
void retire(asio::io_context& io, std::unique_ptr<RedisConnection>& connection, const std::string& why) {
    if (!connection) return;
    std::shared_ptr<RedisConnection> spent(std::move(connection));
    spent->close(why);
    asio::post(io, [spent] {});
}

Error unavailable(const std::string& why) {
    return Error{ErrorCode::BrokerUnavailable,
                 "Redis cannot be reached (" + why + "): done on this node only; the other nodes were not reached"};
}

}  // namespace

ClusterControl::ClusterControl(asio::io_context& io, Settings settings, Context& context, Revocations& revocations,
                               NodeInfo info)
    : io_(io),
      settings_(std::move(settings)),
      context_(context),
      revocations_(revocations),
      info_(std::move(info)),
      heartbeat_(io),
      commandsRetry_(io),
      subscriberRetry_(io),
      target_(settings_.endpoint) {}

ClusterControl::~ClusterControl() { *alive_ = false; }

void ClusterControl::start() {
    if (settings_.cluster) askTargets_ = std::make_unique<RedisAskTargets>(io_, settings_.endpoint, kCommandTimeout);
    connectCommands();
    connectSubscriber();
}

void ClusterControl::stop() {
    if (stopped_) return;
    stopped_ = true;
    heartbeat_.cancel();
    commandsRetry_.cancel();
    subscriberRetry_.cancel();
    for (auto& [id, waiting] : waiting_) waiting.timer->cancel();
    // Gone from `info` at once rather than when its heartbeat ages.
    if (commands_ && commandsReady_) {
        commands_->command({"SREM", nodesKey(), settings_.nodeId}, [](const RedisValue*) {});
        commands_->command({"DEL", nodeKey(settings_.nodeId)}, [](const RedisValue*) {});
    }
    for (auto& again : std::exchange(afterConnect_, {})) again();
    if (askTargets_) askTargets_->close();
    auto connections = std::make_shared<std::pair<std::unique_ptr<RedisConnection>, std::unique_ptr<RedisConnection>>>(
        std::move(commands_), std::move(subscriber_));
    // Let the ZREM go out before closing.
    auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(20));
    timer->async_wait([connections, timer](const std::error_code&) {
        if (connections->first) connections->first->close("stopping");
        if (connections->second) connections->second->close("stopping");
    });
}

void ClusterControl::retry(bool commands) {
    if (stopped_) return;
    asio::steady_timer& timer = commands ? commandsRetry_ : subscriberRetry_;
    timer.expires_after(std::chrono::seconds(1));
    auto alive = alive_;
    timer.async_wait([this, alive, commands](const std::error_code& ec) {
        if (!*alive || ec || stopped_) return;
        commands ? connectCommands() : connectSubscriber();
    });
}

RedisEndpoint ClusterControl::endpointAfter(int failures) const {
    if (!settings_.cluster || failures == 0 || settings_.seeds.empty()) return target_;
    return settings_.seeds[static_cast<std::size_t>(failures - 1) % settings_.seeds.size()];
}

void ClusterControl::connectCommands() {
    commandsReady_ = false;
    retire(io_, commands_, "reconnecting");
    const RedisEndpoint endpoint = endpointAfter(commandsFailures_);
    commands_ = std::make_unique<RedisConnection>(io_, endpoint, kCommandTimeout);
    RedisConnection* connection = commands_.get();
    if (askTargets_) connection->onRedirect(askTargets_->redirect());
    auto alive = alive_;
    connection->onClosed([this, alive, connection](const std::string&) {
        if (!*alive || connection != commands_.get()) return;
        commandsReady_ = false;
        ++commandsFailures_;
        retry(true);
    });
    connection->connect([this, alive, connection, endpoint](std::optional<std::string> error) {
        if (!*alive || connection != commands_.get()) return;
        if (error) {
            ++commandsFailures_;
            // Commands waiting for this connection are answered (unavailable), not held.
            for (auto& again : std::exchange(afterConnect_, {})) again();
            return retry(true);
        }
        commandsFailures_ = 0;
        if (settings_.cluster) target_ = endpoint;
        commandsReady_ = true;
        for (auto& again : std::exchange(afterConnect_, {})) again();
        heartbeat_.cancel();
        beat();
        if (subscriberReady_) reload();
    });
}

void ClusterControl::connectSubscriber() {
    subscriberReady_ = false;
    retire(io_, subscriber_, "reconnecting");
    const RedisEndpoint endpoint = endpointAfter(subscriberFailures_);
    subscriber_ = std::make_unique<RedisConnection>(io_, endpoint, kCommandTimeout);
    RedisConnection* connection = subscriber_.get();
    auto alive = alive_;
    connection->onPush([this, alive](const RedisValue& push) {
        if (*alive) onPush(push);
    });
    connection->onClosed([this, alive, connection](const std::string&) {
        if (!*alive || connection != subscriber_.get()) return;
        subscriberReady_ = false;
        ++subscriberFailures_;
        retry(false);
    });
    connection->connect([this, alive, connection, endpoint](std::optional<std::string> error) {
        if (!*alive || connection != subscriber_.get()) return;
        if (error) {
            ++subscriberFailures_;
            return retry(false);
        }
        subscriberFailures_ = 0;
        if (settings_.cluster && !commandsReady_) target_ = endpoint;
        // On a cluster both channels are in the {api} slot: one SSUBSCRIBE may name them.
        connection->send(
            {settings_.cluster ? "SSUBSCRIBE" : "SUBSCRIBE", controlChannel(), replyChannel(settings_.nodeId)});
    });
}

void ClusterControl::command(std::vector<std::string> args, RedisConnection::Callback done, bool again) {
    if (stopped_ || !commandsReady_ || !commands_) return done(nullptr);
    auto alive = alive_;
    RedisConnection* connection = commands_.get();
    commands_->command(args, [this, alive, connection, args, done, again](const RedisValue* reply) {
        if (!*alive) return;
        if (settings_.cluster && !again && !stopped_ && isMoved(reply)) {
            // It did not run: sent again, once, when connected to the slot's master.
            ++redirects_;
            afterConnect_.push_back([this, args, done] { command(args, done, true); });
            redirect(redirectionTarget(reply->text), connection->address());
            return;
        }
        done(reply);
    });
}

void ClusterControl::redirect(const std::string& address, const std::string& from) {
    const auto colon = address.rfind(':');
    if (stopped_ || colon == std::string::npos) return;
    RedisEndpoint next = settings_.endpoint;
    next.host = address.substr(0, colon);
    if (next.host.empty()) next.host = from.substr(0, from.rfind(':'));  // "MOVED 42 :7001": the same host
    next.port = std::atoi(address.c_str() + colon + 1);
    if (next.port <= 0) return;
    next.sentinels.clear();
    target_ = next;
    const std::string there = next.host + ":" + std::to_string(next.port);
    if (!commands_ || commands_->address() != there || !commandsReady_) {
        commandsFailures_ = 0;
        commandsRetry_.cancel();
        auto alive = alive_;
        asio::post(io_, [this, alive] {
            if (*alive && !stopped_) connectCommands();
        });
    }
    if (commands_ && commands_->address() == there && commandsReady_ && !afterConnect_.empty()) {
        // Already there (the subscriber led the way): what was refused goes now.
        auto alive = alive_;
        asio::post(io_, [this, alive] {
            if (!*alive) return;
            for (auto& again : std::exchange(afterConnect_, {})) again();
        });
    }
    if (!subscriber_ || subscriber_->address() != there) {
        subscriberFailures_ = 0;
        subscriberRetry_.cancel();
        subscriberReady_ = false;
        auto alive = alive_;
        asio::post(io_, [this, alive] {
            if (*alive && !stopped_) connectSubscriber();
        });
    }
}

void ClusterControl::beat() {
    if (stopped_ || !commandsReady_) return;
    const std::int64_t now = nowMs();
    // One round trip: the two commands are pipelined. (A set and expiring keys, not a
    // sorted set: presence's own tests count the ZADDs its heartbeat makes.)
    command({"SADD", nodesKey(), settings_.nodeId}, [](const RedisValue*) {});
    command({"SET", nodeKey(settings_.nodeId), info_().dump(-1, ' ', false, json::error_handler_t::replace), "PX",
             std::to_string(kLiveMs)},
            [](const RedisValue*) {});
    if (subscriberReady_ && now - lastReloadMs_ >= kReloadMs) reload();
    heartbeat_.expires_after(std::chrono::milliseconds(kHeartbeatMs));
    auto alive = alive_;
    heartbeat_.async_wait([this, alive](const std::error_code& ec) {
        if (*alive && !ec) beat();
    });
}

// Every revocation kept in Redis; one this node did not know (a node started later, a
// control message missed) is applied as if it had just come.
void ClusterControl::reload() {
    lastReloadMs_ = nowMs();
    const std::int64_t oldest = nowMs() / 1000 - revocations_.maxTokenLifetime();
    auto alive = alive_;
    command({"ZRANGEBYSCORE", revokedKey(), "(" + std::to_string(oldest), "+inf", "WITHSCORES"},
            [this, alive](const RedisValue* reply) {
                if (!*alive || !reply || reply->type != RedisValue::Type::Array) return;
                for (std::size_t i = 0; i + 1 < reply->elements.size(); i += 2) {
                    UserAction action;
                    action.kind = UserAction::Kind::Revoke;
                    action.user = reply->elements[i].text;
                    action.before = std::atoll(reply->elements[i + 1].text.c_str());
                    if (!action.user.empty() && revocations_.before(action.user) < action.before) {
                        applyLocally(action, context_, revocations_);
                    }
                }
            });
}

void ClusterControl::onPush(const RedisValue& push) {
    if (settings_.cluster && isMoved(&push) && subscriber_) {
        // SSUBSCRIBE on a node that does not own the {api} slot.
        ++redirects_;
        redirect(redirectionTarget(push.text), subscriber_->address());
        return;
    }
    if (push.type != RedisValue::Type::Array || push.elements.size() < 3) return;
    const std::string& kind = push.elements[0].text;
    const std::string& topic = push.elements[1].text;
    if (kind == "subscribe" || kind == "ssubscribe") {
        if (topic == replyChannel(settings_.nodeId)) {
            subscriberReady_ = true;
            if (commandsReady_) reload();
        }
        return;
    }
    if (kind == "sunsubscribe") {
        // Redis ended the subscription: the {api} slot moved (a reshard, a failover). The
        // subscriber connects again (and follows MOVED to the new master).
        if (subscriberReady_) {
            subscriberReady_ = false;
            ++subscriberFailures_;
            retire(io_, subscriber_, "the {api} slot moved");
            retry(false);
        }
        return;
    }
    if (kind != "message" && kind != "smessage") return;
    if (topic == controlChannel()) {
        onControl(push.elements[2].text);
    } else {
        onReply(push.elements[2].text);
    }
}

// Another node was called: do it here, and answer it with what it reached.
void ClusterControl::onControl(const std::string& payload) {
    json message = json::parse(payload, nullptr, false);
    if (!message.is_object()) return;
    const std::string origin = message.value("origin", "");
    if (origin.empty() || origin == settings_.nodeId || !message["id"].is_number_unsigned()) return;
    auto action = actionFromJson(message["action"]);
    if (!action) return;
    const std::int64_t count = applyLocally(*action, context_, revocations_);
    if (!commandsReady_) return;
    json reply = {{"id", message["id"]}, {"node", settings_.nodeId}, {"count", count}};
    command({publishVerb(), replyChannel(origin), reply.dump()}, [](const RedisValue*) {});
}

void ClusterControl::onReply(const std::string& payload) {
    json message = json::parse(payload, nullptr, false);
    if (!message.is_object() || !message["id"].is_number_unsigned() || !message["count"].is_number_integer()) return;
    auto it = waiting_.find(message["id"].get<std::uint64_t>());
    if (it == waiting_.end()) return;
    if (it->second.nodes.erase(message.value("node", "")) == 0) return;
    it->second.count += message["count"].get<std::int64_t>();
    if (it->second.nodes.empty()) finish(it->first);
}

void ClusterControl::finish(std::uint64_t id) {
    auto it = waiting_.find(id);
    if (it == waiting_.end()) return;
    Waiting waiting = std::move(it->second);
    waiting_.erase(it);
    waiting.timer->cancel();
    waiting.done(waiting.count);
}

void ClusterControl::liveNodes(std::function<void(std::optional<std::vector<std::string>>)> done) {
    liveInfos([done](std::optional<std::vector<std::pair<std::string, std::string>>> nodes) {
        if (!nodes) return done(std::nullopt);
        std::vector<std::string> ids;
        for (auto& node : *nodes) ids.push_back(node.first);
        done(std::move(ids));
    });
}

// The other nodes whose info key has not expired (a node that stopped beating is dropped
// from the set here).
void ClusterControl::liveInfos(
    std::function<void(std::optional<std::vector<std::pair<std::string, std::string>>>)> done) {
    auto alive = alive_;
    const std::string nodes = nodesKey();
    command({"SMEMBERS", nodes}, [this, alive, done, nodes](const RedisValue* reply) {
        if (!*alive) return;
        if (!reply || reply->type != RedisValue::Type::Array) return done(std::nullopt);
        std::vector<std::string> others;
        for (const RedisValue& node : reply->elements) {
            if (node.text != settings_.nodeId) others.push_back(node.text);
        }
        if (others.empty()) return done(std::vector<std::pair<std::string, std::string>>{});
        std::vector<std::string> args{"MGET"};
        for (const std::string& node : others) args.push_back(nodeKey(node));  // one slot on a cluster
        command(args, [this, alive, done, others, nodes](const RedisValue* infos) {
            if (!*alive) return;
            if (!infos || infos->type != RedisValue::Type::Array || infos->elements.size() != others.size()) {
                return done(std::nullopt);
            }
            std::vector<std::pair<std::string, std::string>> live;
            for (std::size_t i = 0; i < others.size(); ++i) {
                if (infos->elements[i].isString()) {
                    live.emplace_back(others[i], infos->elements[i].text);
                } else {
                    command({"SREM", nodes, others[i]}, [](const RedisValue*) {});
                }
            }
            done(std::move(live));
        });
    });
}

void ClusterControl::run(const UserAction& action, CountDone done) {
    if (!ready()) {
        applyLocally(action, context_, revocations_);
        return done(unavailable("connecting"));
    }
    if (action.kind == UserAction::Kind::Revoke) {
        // Stored first: a node that misses the message, or starts later, loads it.
        const std::int64_t oldest = nowMs() / 1000 - revocations_.maxTokenLifetime();
        command({"EVAL", kRevokeScript, "1", revokedKey(), action.user, std::to_string(action.before),
                 std::to_string(oldest)},
                [](const RedisValue*) {});
    }
    const std::int64_t local = applyLocally(action, context_, revocations_);
    const std::uint64_t id = nextId_++;
    auto alive = alive_;
    // Asked after the store (the commands are answered in order), published once the live
    // nodes are known so that every answer finds the request waiting.
    liveNodes([this, alive, id, local, action, done](std::optional<std::vector<std::string>> others) {
        if (!*alive) return;
        if (!others) return done(unavailable("no answer to the list of nodes"));
        if (others->empty()) return done(local);
        Waiting& waiting = waiting_[id];
        waiting.nodes.insert(others->begin(), others->end());
        waiting.count = local;
        waiting.done = done;
        waiting.timer = std::make_unique<asio::steady_timer>(io_, std::chrono::milliseconds(kWaitMs));
        waiting.timer->async_wait([this, alive, id](const std::error_code& ec) {
            if (*alive && !ec) finish(id);  // a node that did not answer in time is left out
        });
        json message = {{"id", id}, {"origin", settings_.nodeId}, {"action", toJson(action)}};
        command({publishVerb(), controlChannel(), message.dump()}, [](const RedisValue*) {});
    });
}

void ClusterControl::nodes(NodesDone done) {
    json self = info_();
    if (!ready()) return done(json::array({self}));
    auto alive = alive_;
    liveInfos([alive, self, done](std::optional<std::vector<std::pair<std::string, std::string>>> others) {
        if (!*alive) return;
        json out = json::array({self});
        for (const auto& [id, text] : others.value_or(std::vector<std::pair<std::string, std::string>>{})) {
            json node = json::parse(text, nullptr, false);
            if (node.is_object()) out.push_back(std::move(node));
        }
        done(std::move(out));
    });
}

}  // namespace pushwire::server::api
