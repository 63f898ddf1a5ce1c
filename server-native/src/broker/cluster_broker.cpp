#include "broker/cluster_broker.hpp"

#include <asio/post.hpp>

#include "front/poll_until.hpp"

namespace pushwire::server {

namespace {

constexpr std::size_t kSlots = 16384;
constexpr std::uint16_t kNone = 0xFFFF;
constexpr std::chrono::milliseconds kAskTimeout{1000};
constexpr std::chrono::milliseconds kTick{1000};
constexpr std::chrono::seconds kRefreshEvery{5};

// CRC16-CCITT (XModem), as Redis Cluster's keyHashSlot.
std::uint16_t crc16(std::string_view text) {
    std::uint16_t crc = 0;
    for (unsigned char byte : text) {
        crc ^= static_cast<std::uint16_t>(byte << 8);
        for (int i = 0; i < 8; ++i) crc = (crc & 0x8000) ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021) : crc << 1;
    }
    return crc;
}

std::string addressOf(const std::string& host, int port) { return host + ":" + std::to_string(port); }

}  // namespace

std::uint16_t clusterSlot(std::string_view key) {
    const auto open = key.find('{');
    if (open != std::string_view::npos) {
        const auto close = key.find('}', open + 1);
        if (close != std::string_view::npos && close > open + 1) key = key.substr(open + 1, close - open - 1);
    }
    return static_cast<std::uint16_t>(crc16(key) & (kSlots - 1));
}

ClusterBroker::ClusterBroker(asio::io_context& io, const BrokerOptions& options, std::size_t historySize)
    : RoutedBroker(io, options, historySize), owner_(kSlots, kNone), timer_(io) {
    // Until the slot map is read, every channel goes to the first seed (a MOVED answer
    // makes the map be read at once).
    const BrokerOptions& seed = options.shards.empty() ? options : options.shards.front();
    const std::size_t first = addPart(seed);
    masters_[addressOf(seed.host, seed.port)] = first;
    owns_.push_back(true);
}

ClusterBroker::~ClusterBroker() { timer_.cancel(); }

std::string ClusterBroker::describe() const {
    // As it was given: rediss+cluster:// when the masters are reached over TLS.
    std::string out = options_.tls ? "rediss+cluster://" : "redis+cluster://";
    bool any = false;
    for (const auto& [address, index] : masters_) {
        if (!active(index)) continue;
        if (any) out += ',';
        out += address;
        any = true;
    }
    return out;
}

std::vector<RedisEndpoint> ClusterBroker::seedEndpoints() const {
    std::vector<RedisEndpoint> out;
    for (const BrokerOptions& seed : options_.shards) out.push_back(redisEndpoint(partOptions(seed)));
    if (out.empty()) out.push_back(redisEndpoint(partOptions(options_)));
    return out;
}

void ClusterBroker::start() {
    RoutedBroker::start();
    refresh();
    tick();
}

void ClusterBroker::stop() {
    timer_.cancel();
    if (asker_) asker_->close("stopping");
    RoutedBroker::stop();
    for (auto& next : std::exchange(waiting_, {})) next();
}

std::size_t ClusterBroker::route(const std::string& channel) const {
    const std::uint16_t owner = owner_[clusterSlot(channel)];
    return owner == kNone ? 0 : owner;
}

bool ClusterBroker::active(std::size_t index) const { return index < owns_.size() && owns_[index]; }

// An ASK names the master importing the slot: a known one, or one that owns no slot yet
// (a reshard onto a new master), which gets its part now (holding nothing until the map
// says so: its commands connect meanwhile, so the first ASK to it may find it not ready).
std::optional<std::size_t> ClusterBroker::partAt(const std::string& address) {
    auto found = masters_.find(address);
    if (found != masters_.end()) return found->second;
    const auto colon = address.rfind(':');
    if (colon == std::string::npos || colon == 0 || stopped_) return std::nullopt;
    const int port = std::atoi(address.c_str() + colon + 1);
    if (port <= 0 || port > 65535) return std::nullopt;
    BrokerOptions endpoint = options_;
    endpoint.host = address.substr(0, colon);
    endpoint.port = port;
    endpoint.db = 0;
    const std::size_t index = addPart(endpoint);
    masters_[address] = index;
    owns_.resize(index + 1, false);
    return index;
}

void ClusterBroker::prepare(RedisBroker& part) {
    auto alive = alive_;
    part.clusterMaster(
        [this, alive](const std::string& address, std::function<void(RedisConnection*)> then) {
            const std::optional<std::size_t> index = *alive ? partAt(address) : std::nullopt;
            if (!index) {
                then(nullptr);
                return;
            }
            if (RedisConnection* target = this->part(*index).commandsConnection()) {
                then(target);
                return;
            }
            // A master learnt of just now (or reconnecting): its connection, when it comes soon.
            const std::size_t at = *index;
            pollUntil(
                io_, std::chrono::milliseconds(50), std::chrono::steady_clock::now() + kAskTimeout,
                [this, alive, at] { return !*alive || this->part(at).commandsConnection() != nullptr; },
                [this, alive, at, then] { then(*alive ? this->part(at).commandsConnection() : nullptr); });
        },
        [this, alive] { return *alive ? liveMasters() : std::string(); },
        [this, alive, master = &part](std::uint16_t slot) {
            return *alive && owner_[slot] != kNone && &this->part(owner_[slot]) == master;
        });
}

std::string ClusterBroker::liveMasters() const {
    std::string out;
    for (const auto& [address, index] : masters_) {
        if (!active(index)) continue;
        const RedisBroker& master = part(index);
        if (!master.commandsReady() || master.runId().empty()) continue;
        if (!out.empty()) out += ',';
        out += master.runId();
    }
    return out;
}

bool ClusterBroker::retryable(const protocol::Error& error) const {
    return error.message.find("MOVED ") != std::string::npos || error.message.find("CLUSTERDOWN") != std::string::npos;
}

void ClusterBroker::refreshThen(std::function<void()> next) {
    waiting_.push_back(std::move(next));
    refresh();
}

// Every second: the map is read again when it is 5 s old, or a master is down (its
// replica may have been promoted) or failing (answering MOVED in a loop: the map is stale).
void ClusterBroker::tick() {
    if (stopped_) return;
    timer_.expires_after(kTick);
    auto alive = alive_;
    timer_.async_wait([this, alive](const std::error_code& ec) {
        if (!*alive || ec || stopped_) return;
        bool down = !mapped_;
        for (std::size_t i = 0; i < partCount(); ++i) {
            if (active(i) && !part(i).healthy()) down = true;
        }
        if (down || std::chrono::steady_clock::now() - lastRefresh_ >= kRefreshEvery) refresh();
        tick();
    });
}

void ClusterBroker::refresh() {
    if (stopped_) {
        finishRefresh();
        return;
    }
    if (refreshing_) {
        again_ = true;
        return;
    }
    refreshing_ = true;
    // Masters that answer first, then the others, then the seeds.
    std::vector<RedisEndpoint> candidates;
    auto endpointOf = [](const RedisBroker& broker) { return broker.endpoint(); };
    for (int pass = 0; pass < 2; ++pass) {
        for (const auto& [address, index] : masters_) {
            if (!active(index) || part(index).available() != (pass == 0)) continue;
            candidates.push_back(endpointOf(part(index)));
        }
    }
    // A seed as its part would be (TLS, ACL user, password from a file): redisEndpoint()
    // carries every field.
    for (const BrokerOptions& seed : options_.shards) candidates.push_back(redisEndpoint(partOptions(seed)));
    tryRefresh(std::move(candidates), 0);
}

void ClusterBroker::tryRefresh(std::vector<RedisEndpoint> candidates, std::size_t at) {
    if (stopped_ || at >= candidates.size()) {
        finishRefresh();
        return;
    }
    if (asker_) {
        // Not from inside its own callback: destroyed on a later turn.
        std::shared_ptr<RedisConnection> spent(std::move(asker_));
        spent->close("replaced");
        asio::post(io_, [spent] {});
    }
    const RedisEndpoint endpoint = candidates[at];
    asker_ = std::make_unique<RedisConnection>(io_, endpoint, kAskTimeout);
    RedisConnection* connection = asker_.get();
    auto alive = alive_;
    connection->connect([this, alive, connection, candidates, at, endpoint](std::optional<std::string> error) {
        if (!*alive || connection != asker_.get()) return;
        if (error) {
            tryRefresh(candidates, at + 1);
            return;
        }
        connection->command({"CLUSTER", "SLOTS"},
                            [this, alive, connection, candidates, at, endpoint](const RedisValue* reply) {
                                if (!*alive || connection != asker_.get()) return;
                                if (!reply || reply->type != RedisValue::Type::Array || !apply(*reply, endpoint)) {
                                    tryRefresh(candidates, at + 1);
                                    return;
                                }
                                finishRefresh();
                            });
    });
}

// One CLUSTER SLOTS answer: [[start, end, [host, port, id, ...], replicas...], ...].
bool ClusterBroker::apply(const RedisValue& slots, const RedisEndpoint& asked) {
    std::vector<std::uint16_t> owner = owner_;
    std::vector<bool> owns(owns_.size(), false);
    std::size_t covered = 0;
    for (const RedisValue& range : slots.elements) {
        if (range.type != RedisValue::Type::Array || range.elements.size() < 3) continue;
        const long long from = range.elements[0].integer, to = range.elements[1].integer;
        const RedisValue& master = range.elements[2];
        if (from < 0 || to >= static_cast<long long>(kSlots) || from > to || master.elements.size() < 2) continue;
        std::string host = master.elements[0].text;
        if (host.empty() || host == "?") host = asked.host;
        const int port = static_cast<int>(master.elements[1].integer);
        const std::string address = addressOf(host, port);
        auto found = masters_.find(address);
        std::size_t index = 0;
        if (found != masters_.end() && found->second < owns.size()) {
            index = found->second;
        } else {
            BrokerOptions endpoint = options_;
            endpoint.host = host;
            endpoint.port = port;
            endpoint.db = 0;
            index = addPart(endpoint);
            masters_[address] = index;
            owns.resize(index + 1, false);
            owns_.resize(index + 1, false);
        }
        owns[index] = true;
        for (long long slot = from; slot <= to; ++slot)
            owner[static_cast<std::size_t>(slot)] = static_cast<std::uint16_t>(index);
        covered += static_cast<std::size_t>(to - from + 1);
    }
    if (covered == 0) return false;
    ++refreshes_;
    lastRefresh_ = std::chrono::steady_clock::now();
    mapped_ = true;
    const bool changed = owner != owner_;
    owner_ = std::move(owner);
    const std::vector<bool> before = owns_;
    owns_ = owns;
    reroute();
    // Former masters (now replicas, or gone) hold nothing any more.
    for (std::size_t i = 0; i < before.size(); ++i) {
        if (before[i] && !owns_[i]) {
            for (auto it = masters_.begin(); it != masters_.end();) {
                it = it->second == i ? masters_.erase(it) : std::next(it);
            }
            retire(i);
        }
    }
    // MOVED answers in a row were the stale map's: the masters that gave them are not
    // failing (their commands of those slots go to the new owners now).
    if (changed) {
        for (std::size_t i = 0; i < partCount(); ++i) part(i).slotMapChanged();
    }
    childAvailability();
    return true;
}

void ClusterBroker::finishRefresh() {
    refreshing_ = false;
    for (auto& next : std::exchange(waiting_, {})) next();
    if (again_ && !stopped_) {
        again_ = false;
        refresh();
    }
}

}  // namespace pushwire::server
