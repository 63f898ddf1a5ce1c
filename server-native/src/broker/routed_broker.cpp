#include "broker/routed_broker.hpp"

#include <asio/post.hpp>

namespace pushwire::server {

using protocol::Error;
using protocol::ErrorCode;

std::uint64_t fnv1a64(std::string_view text) {
    std::uint64_t hash = 14695981039346656037ull;
    for (unsigned char c : text) {
        hash ^= c;
        hash *= 1099511628211ull;
    }
    return hash;
}

std::size_t jumpConsistentHash(std::uint64_t key, std::size_t buckets) {
    std::int64_t b = -1, j = 0;
    while (j < static_cast<std::int64_t>(buckets)) {
        b = j;
        key = key * 2862933555777941757ull + 1;
        j = static_cast<std::int64_t>(static_cast<double>(b + 1) *
                                      (static_cast<double>(1ll << 31) / static_cast<double>((key >> 33) + 1)));
    }
    return static_cast<std::size_t>(b < 0 ? 0 : b);
}

// Events of one part, passed on while that part holds the channel for this broker.
struct RoutedBroker::Relay final : BrokerEventHandler {
    RoutedBroker* owner;
    std::size_t index;
    Relay(RoutedBroker* o, std::size_t i) : owner(o), index(i) {}
    bool holds(const std::string& channel) const {
        auto it = owner->followed_.find(channel);
        return it != owner->followed_.end() && it->second == index && !owner->children_[index].retired;
    }
    void onFollow(const std::string& channel, const StreamHead& head) override {
        if (holds(channel) && owner->handler_) owner->handler_->onFollow(channel, head);
    }
    void onPublication(const MessagePtr& message) override {
        if (holds(message->channel) && owner->handler_) owner->handler_->onPublication(message);
    }
    void onAvailability(bool, const std::string&) override { owner->childAvailability(); }
};

RoutedBroker::RoutedBroker(asio::io_context& io, const BrokerOptions& options, std::size_t historySize)
    : io_(io), options_(options), historySize_(historySize) {}

RoutedBroker::~RoutedBroker() {
    *alive_ = false;
    stopped_ = true;
}

BrokerOptions RoutedBroker::partOptions(const BrokerOptions& endpoint) const {
    BrokerOptions one = endpoint;
    one.prefix = options_.prefix;
    one.channelTtlMs = options_.channelTtlMs;
    one.idempotencyWindowMs = options_.idempotencyWindowMs;
    // Flags given after --broker hold for every part.
    one.waitReplicas = options_.waitReplicas;
    one.waitTimeoutMs = options_.waitTimeoutMs;
    if (one.tlsCa.empty()) one.tlsCa = options_.tlsCa;
    if (one.tlsCert.empty()) one.tlsCert = options_.tlsCert;
    if (one.tlsKey.empty()) one.tlsKey = options_.tlsKey;
    if (one.password.empty()) one.password = options_.password;
    one.shards.clear();
    one.cluster = options_.cluster;  // a cluster's master: one slot per SSUBSCRIBE
    return one;
}

std::size_t RoutedBroker::addPart(const BrokerOptions& endpoint) {
    const BrokerOptions one = partOptions(endpoint);
    const std::size_t index = children_.size();
    Child child;
    child.broker = std::make_unique<RedisBroker>(io_, one, historySize_);
    child.relay = std::make_unique<Relay>(this, index);
    child.broker->setHandler(child.relay.get());
    for (const Script& script : scripts_) child.broker->addScript(script.name, script.lua, script.kind);
    prepare(*child.broker);
    children_.push_back(std::move(child));
    if (started_ && !stopped_) children_.back().broker->start();
    return index;
}

void RoutedBroker::addScript(const std::string& name, const std::string& lua, CommandHealth::Kind kind) {
    scripts_.push_back(Script{name, lua, kind});
    for (Child& child : children_) child.broker->addScript(name, lua, kind);
}

void RoutedBroker::retire(std::size_t index) {
    Child& child = children_[index];
    if (child.retired) return;
    child.retired = true;
    child.broker->stop();
}

void RoutedBroker::start() {
    started_ = true;
    for (Child& child : children_) {
        if (!child.retired) child.broker->start();
    }
}

void RoutedBroker::stop() {
    if (stopped_) return;
    stopped_ = true;
    for (Child& child : children_) child.broker->stop();
}

void RoutedBroker::publish(const std::string& channel, std::string dataJson, std::int64_t timeMs, PublishDone done) {
    publishOnce(channel, std::move(dataJson), timeMs, std::string(), std::move(done));
}

void RoutedBroker::publishOnce(const std::string& channel, std::string dataJson, std::int64_t timeMs,
                               const std::string& idempotencyKey, PublishDone done) {
    publishTo(channel, std::make_shared<std::string>(std::move(dataJson)), timeMs, idempotencyKey, std::move(done),
              false);
}

// A publish a cluster refused with MOVED did not run: sent again to the slot's new owner
// once the slot map is read again (once: a second refusal is the answer). ASK and TRYAGAIN
// (a slot being migrated) are followed by the part's connection (RedisConnection::onRedirect).
void RoutedBroker::publishTo(const std::string& channel, std::shared_ptr<std::string> data, std::int64_t timeMs,
                             const std::string& idempotencyKey, PublishDone done, bool again) {
    auto alive = alive_;
    children_[route(channel)].broker->publishOnce(
        channel, std::string(*data), timeMs, idempotencyKey,
        [this, alive, channel, data, timeMs, idempotencyKey, done, again](protocol::Result<MessagePtr> result) {
            if (*alive && !again && !result && retryable(result.error())) {
                refreshThen([this, alive, channel, data, timeMs, idempotencyKey, done] {
                    if (!*alive) {
                        done(Error{ErrorCode::BrokerUnavailable, "the broker is stopping"});
                        return;
                    }
                    publishTo(channel, data, timeMs, idempotencyKey, done, true);
                });
                return;
            }
            done(std::move(result));
        });
}

void RoutedBroker::history(const HistoryQuery& query, HistoryDone done) { historyFrom(query, std::move(done), false); }

void RoutedBroker::historyFrom(const HistoryQuery& query, HistoryDone done, bool again) {
    auto alive = alive_;
    children_[route(query.channel)].broker->history(
        query, [this, alive, query, done, again](protocol::Result<HistoryPage> result) {
            if (*alive && !again && !result && retryable(result.error())) {
                refreshThen([this, alive, query, done] {
                    if (!*alive) {
                        done(Error{ErrorCode::BrokerUnavailable, "the broker is stopping"});
                        return;
                    }
                    historyFrom(query, done, true);
                });
                return;
            }
            done(std::move(result));
        });
}

// The cursor: "<part>:<the part's own cursor>"; each part's SCAN is walked to its end
// before the next part's begins.
void RoutedBroker::channels(const ChannelListQuery& query, ChannelListDone done) {
    std::size_t index = 0;
    ChannelListQuery own = query;
    own.cursor.clear();
    if (!query.cursor.empty()) {
        const auto colon = query.cursor.find(':');
        std::size_t parsed = 0;
        bool ok = colon != std::string::npos && colon > 0 && colon <= 6;
        for (std::size_t i = 0; ok && i < colon; ++i) {
            const char c = query.cursor[i];
            if (c < '0' || c > '9') ok = false;
            parsed = parsed * 10 + static_cast<std::size_t>(c - '0');
        }
        if (!ok || parsed >= children_.size()) {
            done(Error{ErrorCode::BadCursor, "not a cursor of this broker's channel list: " + query.cursor});
            return;
        }
        index = parsed;
        own.cursor = query.cursor.substr(colon + 1);
    }
    while (index < children_.size() && !active(index)) ++index;
    if (index >= children_.size()) {
        done(ChannelList{});
        return;
    }
    auto alive = alive_;
    children_[index].broker->channels(own, [this, alive, index, done](protocol::Result<ChannelList> result) {
        if (!*alive || !result) {
            done(std::move(result));
            return;
        }
        ChannelList page = std::move(*result);
        if (!page.next.empty()) {
            page.next = std::to_string(index) + ":" + page.next;
        } else {
            std::size_t next = index + 1;
            while (next < children_.size() && !active(next)) ++next;
            if (next < children_.size()) page.next = std::to_string(next) + ":";
        }
        done(std::move(page));
    });
}

void RoutedBroker::follow(const std::string& channel) {
    const std::size_t index = route(channel);
    auto [it, added] = followed_.try_emplace(channel, index);
    if (!added) return;
    children_[index].broker->follow(channel);
}

void RoutedBroker::unfollow(const std::string& channel) {
    auto it = followed_.find(channel);
    if (it == followed_.end()) return;
    const std::size_t index = it->second;
    followed_.erase(it);
    children_[index].broker->unfollow(channel);
}

void RoutedBroker::reroute() {
    for (auto& [channel, index] : followed_) {
        const std::size_t now = route(channel);
        if (now == index) continue;
        const std::size_t before = index;
        index = now;  // the old part's late events are no longer passed on
        // Where delivery stood: the new part delivers what its Redis holds after it (a
        // promoted replica's copy of the old life's rest) before its own life begins.
        const std::optional<StreamHead> delivered = children_[before].broker->delivered(channel);
        children_[before].broker->unfollow(channel);
        children_[now].broker->follow(channel, delivered.value_or(StreamHead{}));
    }
}

bool RoutedBroker::available() const {
    for (std::size_t i = 0; i < children_.size(); ++i) {
        if (active(i) && children_[i].broker->available()) return true;
    }
    return false;
}

bool RoutedBroker::healthy() const {
    for (std::size_t i = 0; i < children_.size(); ++i) {
        if (active(i) && children_[i].broker->healthy()) return true;
    }
    return false;
}

std::string RoutedBroker::state() const {
    std::string down;
    std::size_t parts = 0, up = 0, failing = 0, connecting = 0;
    for (std::size_t i = 0; i < children_.size(); ++i) {
        if (!active(i)) continue;
        ++parts;
        const RedisBroker& child = *children_[i].broker;
        if (child.healthy()) {
            ++up;
            continue;
        }
        const std::string state = child.state();
        if (state == "connecting") ++connecting;
        if (child.available()) ++failing;
        if (!down.empty()) down += "; ";
        down += child.describe() + ": " + state;
    }
    if (parts == 0 || connecting == parts) return "connecting";
    if (up == parts) return "ok";
    const std::string what = failing == 0 ? " down" : failing == parts - up ? " failing" : " down or failing";
    return std::to_string(parts - up) + " of " + std::to_string(parts) + what + " (only their channels fail): " + down;
}

BrokerStats RoutedBroker::stats() const {
    BrokerStats total;
    for (const Child& child : children_) {
        const BrokerStats one = child.broker->stats();
        total.errors += one.errors;
        total.reconnects += one.reconnects;
        total.filled += one.filled;
        total.commands += one.commands;
        total.commandSecondsTotal += one.commandSecondsTotal;
        total.errorReplies += one.errorReplies;
    }
    return total;
}

std::vector<BrokerPart> RoutedBroker::parts() const {
    std::vector<BrokerPart> out;
    for (std::size_t i = 0; i < children_.size(); ++i) {
        if (!active(i)) continue;
        const RedisBroker& child = *children_[i].broker;
        out.push_back(BrokerPart{child.describe(), child.state(), child.available(), child.failing(), child.stats()});
    }
    return out;
}

void RoutedBroker::childAvailability() {
    const bool now = available();
    if (now == lastAvailable_ || !handler_) return;
    lastAvailable_ = now;
    handler_->onAvailability(now, state());
}

// ---------------------------------------------------------------- independent shards

ShardedBroker::ShardedBroker(asio::io_context& io, const BrokerOptions& options, std::size_t historySize)
    : RoutedBroker(io, options, historySize) {
    for (const BrokerOptions& shard : options.shards) addPart(shard);
}

std::string ShardedBroker::describe() const {
    std::string out;
    for (std::size_t i = 0; i < partCount(); ++i) {
        if (!out.empty()) out += ',';
        out += part(i).describe();
    }
    return out;
}

std::size_t ShardedBroker::route(const std::string& channel) const {
    return jumpConsistentHash(fnv1a64(channel), partCount());
}

}  // namespace pushwire::server
