#include "redis_cluster.hpp"

#include <chrono>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace pushwire::test {

RedisCluster::RedisCluster(int masters, int replicasPerMaster, std::optional<RedisServer::Tls> tls) {
    const int count = masters * (1 + replicasPerMaster);
    for (int i = 0; i < count; ++i) {
        RedisServer::Config config;
        // The bus port given, not Redis's default of port + 10000: a free port above 55535
        // would put that past 65535, and redis-server would refuse to start.
        config.extra = {"--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        "1000",
                        "--cluster-require-full-coverage",
                        "no",
                        "--cluster-port",
                        std::to_string(freeTcpPort())};
        if (tls) {
            config.tls = tls;
            config.extra.insert(config.extra.end(), {"--tls-cluster", "yes", "--tls-replication", "yes"});
        }
        nodes_.push_back(std::make_unique<RedisServer>(config));
    }
    std::string command = "redis-cli" + nodes_.front()->cliOptions() + " --cluster create";
    for (auto& node : nodes_) command += " 127.0.0.1:" + std::to_string(node->port());
    command += " --cluster-replicas " + std::to_string(replicasPerMaster) + " --cluster-yes >/dev/null 2>&1";
    if (std::system(command.c_str()) != 0) throw std::runtime_error("redis-cli --cluster create failed");
    if (!waitHealthy()) throw std::runtime_error("the Redis Cluster did not become ok");
}

RedisCluster::~RedisCluster() = default;

std::string RedisCluster::url() const {
    // TLS seeds are rediss:// URLs (docs/scaling.md); plain ones host:port.
    auto seed = [](const RedisServer& node) {
        return node.url().rfind("rediss://", 0) == 0 ? node.url() : "127.0.0.1:" + std::to_string(node.port());
    };
    return "redis+cluster://" + seed(*nodes_[0]) + "," + seed(*nodes_[1]);
}

std::vector<RedisServer*> RedisCluster::nodes() {
    std::vector<RedisServer*> out;
    for (auto& node : nodes_) out.push_back(node.get());
    return out;
}

std::vector<RedisServer*> RedisCluster::masters() {
    std::vector<RedisServer*> out;
    for (auto& node : nodes_) {
        if (!node->running()) continue;
        const std::string role = node->cli({"ROLE"});
        if (role.rfind("master", 0) == 0) out.push_back(node.get());
    }
    return out;
}

RedisServer* RedisCluster::masterOf(int slot) {
    for (RedisServer* node : masters()) {
        // CLUSTER COUNTKEYSINSLOT answers on any node; ownership: CLUSTER SLOTS of the node itself.
        std::istringstream slots(node->cli({"CLUSTER", "SLOTS"}));
        std::vector<std::string> lines;
        for (std::string line; std::getline(slots, line);) lines.push_back(line);
        // redis-cli prints each range as: start, end, host, port, id, ... (one per line).
        for (std::size_t i = 0; i + 3 < lines.size(); ++i) {
            try {
                const int from = std::stoi(lines[i]), to = std::stoi(lines[i + 1]);
                if (lines[i + 2] == "127.0.0.1" && from <= slot && slot <= to &&
                    std::stoi(lines[i + 3]) == node->port()) {
                    return node;
                }
            } catch (...) {
            }
        }
    }
    return nullptr;
}

void RedisCluster::flush() {
    for (RedisServer* node : masters()) node->cli({"FLUSHALL"});
}

bool RedisCluster::healthy() {
    int masters = 0;
    for (auto& node : nodes_) {
        if (!node->running()) continue;
        if (node->cli({"CLUSTER", "INFO"}).find("cluster_state:ok") == std::string::npos) return false;
        const std::string role = node->cli({"ROLE"});
        if (role.rfind("master", 0) == 0) {
            ++masters;
        } else if (node->cli({"INFO", "replication"}).find("master_link_status:up") == std::string::npos) {
            // A replica that never synced (offset 0) holds "too old" data and will not
            // stand for election: a master killed before then is never replaced.
            return false;
        }
    }
    return masters > 0;
}

bool RedisCluster::waitHealthy(int seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
        if (healthy()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
}

namespace {

std::string trimmedReply(std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    return text;
}

}  // namespace

bool RedisCluster::openMigration(RedisServer& source, RedisServer& target, int slot) {
    const std::string sourceId = trimmedReply(source.cli({"CLUSTER", "MYID"}));
    const std::string targetId = trimmedReply(target.cli({"CLUSTER", "MYID"}));
    const std::string at = std::to_string(slot);
    return trimmedReply(target.cli({"CLUSTER", "SETSLOT", at, "IMPORTING", sourceId})) == "OK" &&
           trimmedReply(source.cli({"CLUSTER", "SETSLOT", at, "MIGRATING", targetId})) == "OK";
}

int RedisCluster::migrateKeys(RedisServer& source, RedisServer& target, int slot, const std::string& tag) {
    std::vector<std::string> migrate = {"MIGRATE", "127.0.0.1", std::to_string(target.port()), "", "0", "5000", "KEYS"};
    std::istringstream listed(source.cli({"CLUSTER", "GETKEYSINSLOT", std::to_string(slot), "10000"}));
    int count = 0;
    for (std::string key; std::getline(listed, key);) {
        if (key.find(tag) == std::string::npos) continue;
        migrate.push_back(key);
        ++count;
    }
    if (count == 0) return 0;
    return trimmedReply(source.cli(migrate)) == "OK" ? count : -1;
}

bool RedisCluster::closeMigration(RedisServer& source, RedisServer& target, int slot) {
    const std::string targetId = trimmedReply(target.cli({"CLUSTER", "MYID"}));
    const std::string at = std::to_string(slot);
    return trimmedReply(target.cli({"CLUSTER", "SETSLOT", at, "NODE", targetId})) == "OK" &&
           trimmedReply(source.cli({"CLUSTER", "SETSLOT", at, "NODE", targetId})) == "OK";
}

}  // namespace pushwire::test
