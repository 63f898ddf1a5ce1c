#include "broker/routed_presence.hpp"

#include <map>

#include "broker/cluster_broker.hpp"

namespace pushwire::server {

RoutedPresence::RoutedPresence(asio::io_context& io, RoutedBroker& broker, const RedisPresence::Options& options)
    : broker_(broker) {
    if (auto* cluster = dynamic_cast<ClusterBroker*>(&broker)) {
        cluster_ = true;
        // "presence" is routed as the tag {presence}: the slot of the node keys.
        RedisPresence::Route route{
            [cluster]() -> RedisBroker& { return cluster->partOf("presence"); },
            [cluster](const std::string& channel) -> RedisBroker& { return cluster->partOf(channel); },
            [cluster](const std::string& name, std::string lua, CommandHealth::Kind kind) {
                cluster->addScript(name, lua, kind);
            },
            [cluster] { cluster->moved(); }};
        parts_.push_back(std::make_unique<RedisPresence>(io, std::move(route), options));
        return;
    }
    for (std::size_t i = 0; i < broker.partCount(); ++i) {
        parts_.push_back(std::make_unique<RedisPresence>(io, broker.part(i), options));
    }
}

std::size_t RoutedPresence::group(const std::string& channel) const {
    return cluster_ ? clusterSlot(channel) : broker_.partIndexOf(channel);
}

void RoutedPresence::start() {
    for (auto& part : parts_) part->start();
}

void RoutedPresence::stop() {
    for (auto& part : parts_) part->stop();
}

void RoutedPresence::onReaped(std::function<void()> handler) {
    for (auto& part : parts_) part->onReaped(handler);
}

void RoutedPresence::join(const std::string& channel, const Member& member, bool announce, ChangeDone done) {
    of(channel).join(channel, member, announce, std::move(done));
}

void RoutedPresence::leave(const std::string& channel, const std::string& client, bool announce, ChangeDone done) {
    of(channel).leave(channel, client, announce, std::move(done));
}

// One batch per shard (cluster: per slot), in the batch's order within each; the answers
// back in order.
void RoutedPresence::apply(std::vector<Change> changes, BatchDone done) {
    const std::size_t count = changes.size();
    std::map<std::size_t, std::vector<Change>> perPart;
    std::map<std::size_t, std::vector<std::size_t>> positions;
    for (std::size_t i = 0; i < count; ++i) {
        const std::size_t part = group(changes[i].channel);
        positions[part].push_back(i);
        perPart[part].push_back(std::move(changes[i]));
    }
    auto results = std::make_shared<std::vector<protocol::Result<MessagePtr>>>(count, MessagePtr());
    auto waiting = std::make_shared<std::size_t>(1);
    auto finish = [results, waiting, done = std::move(done)] {
        if (--*waiting == 0) done(std::move(*results));
    };
    for (auto& [part, batch] : perPart) {
        ++*waiting;
        RedisPresence& store = of(batch.front().channel);
        store.apply(std::move(batch), [results, finish, at = std::move(positions[part])](
                                          std::vector<protocol::Result<MessagePtr>> answers) {
            for (std::size_t i = 0; i < at.size() && i < answers.size(); ++i) (*results)[at[i]] = std::move(answers[i]);
            finish();
        });
    }
    finish();
}

void RoutedPresence::snapshot(const std::string& channel, std::size_t maxMembers, SnapshotDone done) {
    of(channel).snapshot(channel, maxMembers, std::move(done));
}

void RoutedPresence::counts(const std::string& channel, CountsDone done) {
    of(channel).counts(channel, std::move(done));
}

std::uint64_t RoutedPresence::refreshes() const {
    std::uint64_t total = 0;
    for (const auto& part : parts_) total += part->refreshes();
    return total;
}

std::uint64_t RoutedPresence::refreshRoundTrips() const {
    std::uint64_t total = 0;
    for (const auto& part : parts_) total += part->refreshRoundTrips();
    return total;
}

std::uint64_t RoutedPresence::nodesReaped() const {
    std::uint64_t total = 0;
    for (const auto& part : parts_) total += part->nodesReaped();
    return total;
}

std::uint64_t RoutedPresence::membersReaped() const {
    std::uint64_t total = 0;
    for (const auto& part : parts_) total += part->membersReaped();
    return total;
}

}  // namespace pushwire::server
