// A real Redis Cluster for a test: 3 masters and 3 replicas (redis-server
// --cluster-enabled yes, each on its own free port and temporary directory, joined with
// redis-cli --cluster create --cluster-replicas 1), cluster-node-timeout 1000 ms so that a
// killed master's replica is promoted within a few seconds. Ready (cluster_state:ok on
// every node) when the constructor returns; stopped with the object. Given TLS files, every
// node speaks only TLS, to clients, on the cluster bus and to its master (tls-cluster,
// tls-replication), as production clusters run.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "redis_server.hpp"

namespace pushwire::test {

class RedisCluster {
public:
    explicit RedisCluster(int masters = 3, int replicasPerMaster = 1, std::optional<RedisServer::Tls> tls = {});
    ~RedisCluster();

    // redis+cluster://127.0.0.1:P1,127.0.0.1:P2 (two seeds); with TLS,
    // redis+cluster://rediss://127.0.0.1:P1,rediss://127.0.0.1:P2.
    std::string url() const;
    std::vector<RedisServer*> nodes();
    // The node that is master of `slot` now (null if none answers).
    RedisServer* masterOf(int slot);
    // The nodes that are masters now.
    std::vector<RedisServer*> masters();
    // FLUSHALL on every master.
    void flush();
    // Every running node says cluster_state:ok, and every running replica has its link to
    // its master up (synced: it can be promoted).
    bool healthy();
    // Waits (up to `seconds`) until healthy().
    bool waitHealthy(int seconds = 30);

    // A slot migrated by hand, in the steps redis-cli --cluster reshard takes: opened
    // (IMPORTING on `target`, MIGRATING on `source`), keys moved with MIGRATE, closed (the
    // slot given to `target` on both). True when Redis answered OK to each.
    static bool openMigration(RedisServer& source, RedisServer& target, int slot);
    // Moves the keys of `slot` on `source` whose names hold `tag` (e.g. "{room}") to
    // `target` in one MIGRATE; how many (0: none there, -1: refused).
    static int migrateKeys(RedisServer& source, RedisServer& target, int slot, const std::string& tag);
    static bool closeMigration(RedisServer& source, RedisServer& target, int slot);

private:
    std::vector<std::unique_ptr<RedisServer>> nodes_;
};

}  // namespace pushwire::test
