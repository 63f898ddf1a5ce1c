// Helpers the integration test files share, on top of server_process.hpp: waiting for a
// node's health or any condition, picking channels by where a broker puts them, and reading
// what SSE and WebSocket subscribers received as JSON messages. Every wait is on a condition,
// its timeout only there for a server that hangs. Called from the test case's thread only.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "server_process.hpp"

namespace pushwire::test {

class RedisCluster;

// Waits until the node's /pushwire/healthz answers 200 (its broker connected: until then a
// node refuses publishes); fails the test case if it never does.
void waitHealthy(const ServerProcess& node);
template <typename... Nodes>
void waitHealthy(const ServerProcess& first, const Nodes&... rest) {
    waitHealthy(first);
    (waitHealthy(rest), ...);
}

// The body of /pushwire/healthz (null when there was no answer); its HTTP status in `status`.
nlohmann::json health(const ServerProcess& node, int* status = nullptr);
// Waits until healthz says `wanted` ("ok", "degraded", ...); the time that took. Fails the
// test case, with the last answer, after `limit`.
std::chrono::milliseconds waitStatus(const ServerProcess& node, const std::string& wanted,
                                     std::chrono::seconds limit = 20s);

// Polls `condition` every 10 ms until it holds (true) or `timeout` passes (false: only a hang
// should meet it).
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 30000ms);

// The "code" of an error answer's {"error":{"code":...}}; "" when the body has none.
std::string errorCodeOf(const std::string& body);

// A temporary directory, removed with all in it when this goes.
struct TempDir {
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    // The path of `name` in it.
    std::string file(const std::string& name) const;
    // Writes `text` to `name` in it, making the directories on the way.
    void write(const std::string& name, const std::string& text) const;
    std::string path;
};

// A WsClient::waitFor match: a frame whose "type" is `type`.
std::function<bool(const std::string&)> ofType(const std::string& type);

// The first channel named prefix-N that a --broker of `count` shards puts on shard `shard`.
std::string channelOnShard(const std::string& prefix, std::size_t shard, std::size_t count);
// One channel named prefixN on each master of the cluster now, by the master's port.
std::map<int, std::string> channelPerMaster(RedisCluster& redis, const std::string& prefix);

// The first `count` messages an SSE subscriber received (each event's data, parsed), waiting
// up to `timeout` for them; fewer when they did not come.
std::vector<nlohmann::json> sseMessages(SseClient& sse, std::size_t count, std::chrono::milliseconds timeout);
// The same for the "message" frames of a WebSocket subscriber (other frames skipped).
std::vector<nlohmann::json> wsMessages(RawWebSocket& ws, std::size_t count, std::chrono::milliseconds timeout);
// The seqs of `messages`, by channel, in the order received.
std::map<std::string, std::vector<int>> seqsByChannel(const std::vector<nlohmann::json>& messages);

}  // namespace pushwire::test
