#include "harness.hpp"

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "broker/cluster_broker.hpp"
#include "broker/routed_broker.hpp"
#include "support/redis_cluster.hpp"

namespace pushwire::test {

using nlohmann::json;

void waitHealthy(const ServerProcess& node) {
    int status = 0;
    if (!eventually(
            [&] {
                health(node, &status);
                return status == 200;
            },
            20s)) {
        FAIL("the node never became healthy: healthz answered " << status);
    }
}

json health(const ServerProcess& node, int* status) {
    auto res = node.client().Get("/pushwire/healthz");
    if (status) *status = res ? res->status : 0;
    return res ? json::parse(res->body, nullptr, false) : json();
}

std::chrono::milliseconds waitStatus(const ServerProcess& node, const std::string& wanted, std::chrono::seconds limit) {
    const auto start = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - start < limit) {
        const json answer = health(node);
        if (answer.is_object() && answer.value("status", "") == wanted) {
            return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
        }
        std::this_thread::sleep_for(50ms);
    }
    FAIL("healthz never said " << wanted << ": " << health(node).dump());
    return {};
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!condition()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(10ms);
    }
    return true;
}

std::string errorCodeOf(const std::string& body) {
    const json answer = json::parse(body, nullptr, false);
    if (answer.is_object() && answer.contains("error") && answer["error"].is_object()) {
        return answer["error"].value("code", "");
    }
    return "";
}

TempDir::TempDir() {
    char pattern[] = "/tmp/pushwire-test-XXXXXX";
    if (!mkdtemp(pattern)) throw std::runtime_error("mkdtemp failed");
    path = pattern;
}

TempDir::~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
}

std::string TempDir::file(const std::string& name) const { return path + "/" + name; }

void TempDir::write(const std::string& name, const std::string& text) const {
    std::filesystem::create_directories(std::filesystem::path(file(name)).parent_path());
    std::ofstream(file(name), std::ios::binary) << text;
}

std::function<bool(const std::string&)> ofType(const std::string& type) {
    return [type](const std::string& frame) { return field(frame, "type") == type; };
}

std::string channelOnShard(const std::string& prefix, std::size_t shard, std::size_t count) {
    for (int i = 0;; ++i) {
        const std::string name = prefix + "-" + std::to_string(i);
        if (server::jumpConsistentHash(server::fnv1a64(name), count) == shard) return name;
    }
}

std::map<int, std::string> channelPerMaster(RedisCluster& redis, const std::string& prefix) {
    std::map<int, std::string> out;
    const auto masters = redis.masters();
    for (int i = 0; out.size() < masters.size() && i < 10000; ++i) {
        const std::string name = prefix + std::to_string(i);
        RedisServer* owner = redis.masterOf(server::clusterSlot(name));
        if (owner && !out.count(owner->port())) out[owner->port()] = name;
    }
    return out;
}

std::vector<json> sseMessages(SseClient& sse, std::size_t count, std::chrono::milliseconds timeout) {
    std::vector<json> out;
    for (const SseEvent& event : sse.waitFor(count, "", timeout)) out.push_back(json::parse(event.data));
    return out;
}

namespace {
bool isMessage(const RawWebSocket::Frame& frame) {
    const json parsed = json::parse(frame.payload, nullptr, false);
    return parsed.is_object() && parsed.value("type", "") == "message";
}
}  // namespace

std::vector<json> wsMessages(RawWebSocket& ws, std::size_t count, std::chrono::milliseconds timeout) {
    const auto& frames = ws.waitFor(
        [count](const auto& all) {
            std::size_t n = 0;
            for (const auto& frame : all) n += isMessage(frame);
            return n >= count;
        },
        timeout);
    std::vector<json> out;
    for (const auto& frame : frames) {
        if (isMessage(frame)) out.push_back(json::parse(frame.payload));
    }
    return out;
}

std::map<std::string, std::vector<int>> seqsByChannel(const std::vector<json>& messages) {
    std::map<std::string, std::vector<int>> out;
    for (const json& message : messages) out[message["channel"]].push_back(message["seq"]);
    return out;
}

}  // namespace pushwire::test
