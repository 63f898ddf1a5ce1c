// Failover without a lie (docs/scaling.md, "Failover"): Redis replicates asynchronously, so a
// promoted replica may lack messages that clients already got, and its seq counters may be
// behind them. Each epoch is bound to the Redis process that made it: a script run on
// another process starts a new life, so no (epoch, seq) is ever handed out twice with two
// payloads. Driven against real redis-server processes (a master and a replica started by
// the test), with the replica promoted by hand at a chosen moment: deterministic; and a
// master + replica + 3 sentinels (`redis-server --sentinel`, as `redis-sentinel` is) with the
// master killed -9 during a publish storm through two pushwire nodes.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "harness.hpp"
#include "server_process.hpp"
#include "support/redis_server.hpp"

using namespace pushwire::test;
using nlohmann::json;

namespace redis_failover_test {

namespace {

// A master that sends a new replica its data at once (Redis 7 waits 5 s for more replicas
// before a diskless sync), and so does a promoted replica.
const RedisServer::Config kPrompt{false, 0, "", {"--repl-diskless-sync-delay", "0"}};

std::vector<std::string> brokerAt(int port, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--broker", "redis://127.0.0.1:" + std::to_string(port), "--broker-prefix", "t"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
}

// `replica` follows `master`, and its link is up (it holds what the master had).
void replicate(const RedisServer& replica, const RedisServer& master) {
    replica.cli({"REPLICAOF", "127.0.0.1", std::to_string(master.port())});
    REQUIRE(eventually([&] {
        return replica.cli({"INFO", "replication"}).find("master_link_status:up") != std::string::npos;
    }));
}

json publishOn(const ServerProcess& node, const std::string& channel, const std::string& data) {
    auto res =
        node.client().Post("/pushwire/publish", json{{"channel", channel}, {"data", data}}.dump(), "application/json");
    REQUIRE(res);
    INFO(res->body);
    REQUIRE(res->status == 200);
    return json::parse(res->body);
}

// The epoch of a poll cursor ("epoch~channel@seq", or "channel@seq.epoch").
std::string epochOf(const std::string& cursor) {
    const auto dot = cursor.find('.');
    if (dot != std::string::npos) return cursor.substr(dot + 1);
    const auto tilde = cursor.find('~');
    return tilde == std::string::npos ? std::string() : cursor.substr(0, tilde);
}

// Every (epoch, seq) seen anywhere, with its payload: a second payload under one is the lie.
struct Ledger {
    std::map<std::pair<std::string, std::uint64_t>, std::string> seen;
    std::vector<std::string> conflicts;
    void add(const std::string& epoch, std::uint64_t seq, const std::string& data) {
        auto [at, added] = seen.emplace(std::make_pair(epoch, seq), data);
        if (!added && at->second != data) {
            conflicts.push_back("(" + epoch + ", " + std::to_string(seq) + "): " + at->second + " and " + data);
        }
    }
};

// One poll: its messages go in the ledger under the epoch its cursor names.
json pollInto(const ServerProcess& node, const std::string& channel, const std::string& since, Ledger& ledger) {
    auto res = node.client().Get("/pushwire/poll?channel=" + channel + "&since=" + since);
    REQUIRE(res);
    INFO(res->body);
    REQUIRE(res->status == 200);
    json answer = json::parse(res->body);
    const std::string epoch = epochOf(answer["cursor"].get<std::string>());
    for (const json& message : answer["messages"]) {
        ledger.add(epoch, message["seq"].get<std::uint64_t>(), message["data"].get<std::string>());
    }
    return answer;
}

// A redis-server --sentinel watching `masterPort` as "mymaster" (quorum 2, down after 1 s),
// in its own temporary directory (a sentinel rewrites its config file), stopped with the object.
class Sentinel {
public:
    // `masterPassword`: the master's requirepass (sentinel auth-pass); `password`: this
    // sentinel's own requirepass (also what it sends the other sentinels).
    explicit Sentinel(int masterPort, const std::string& masterPassword = "", const std::string& password = "")
        : port_(freeTcpPort()), password_(password) {
        char templ[] = "/tmp/pushwire-sentinel-XXXXXX";
        if (!mkdtemp(templ)) throw std::runtime_error("mkdtemp failed");
        dir_ = templ;
        std::ofstream(dir_ + "/sentinel.conf")
            << "port " << port_ << "\nbind 127.0.0.1\nprotected-mode no\ndaemonize no\ndir " << dir_ << "\nlogfile "
            << dir_ << "/sentinel.log\n"
            << "sentinel monitor mymaster 127.0.0.1 " << masterPort << " 2\n"
            << "sentinel down-after-milliseconds mymaster 1000\n"
            << "sentinel failover-timeout mymaster 3000\n"
            << "sentinel parallel-syncs mymaster 1\n";
        if (!masterPassword.empty())
            std::ofstream(dir_ + "/sentinel.conf", std::ios::app)
                << "sentinel auth-pass mymaster " << masterPassword << "\n";
        if (!password.empty())
            std::ofstream(dir_ + "/sentinel.conf", std::ios::app) << "requirepass " << password << "\n";
        pid_ = fork();
        if (pid_ == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            close_range(3, ~0u, 0);
            const std::string config = dir_ + "/sentinel.conf";
            execlp("redis-server", "redis-server", config.c_str(), "--sentinel", static_cast<char*>(nullptr));
            _exit(127);
        }
    }
    ~Sentinel() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
        std::system(("rm -rf '" + dir_ + "'").c_str());
    }
    int port() const { return port_; }
    std::string cli(const std::vector<std::string>& args) const {
        std::string command = "redis-cli -p " + std::to_string(port_);
        if (!password_.empty()) command += " --no-auth-warning -a '" + password_ + "'";
        for (const std::string& arg : args) command += " '" + arg + "'";
        std::string out;
        if (FILE* pipe = popen((command + " 2>/dev/null").c_str(), "r")) {
            char buffer[4096];
            while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
            pclose(pipe);
        }
        return out;
    }

private:
    int port_;
    std::string password_;
    std::string dir_;
    pid_t pid_ = -1;
};

// The epoch of `channel` in a cursor ("E~a@1,b@2.F": b is in F, a in E).
std::string epochIn(const std::string& cursor, const std::string& channel) {
    std::string leading;
    std::string body = cursor;
    if (const auto tilde = cursor.find('~'); tilde != std::string::npos) {
        leading = cursor.substr(0, tilde);
        body = cursor.substr(tilde + 1);
    }
    std::size_t start = 0;
    while (start <= body.size()) {
        std::size_t comma = body.find(',', start);
        if (comma == std::string::npos) comma = body.size();
        const std::string entry = body.substr(start, comma - start);
        if (entry.rfind(channel + "@", 0) == 0) {
            const auto dot = entry.find('.');
            return dot == std::string::npos ? leading : entry.substr(dot + 1);
        }
        start = comma + 1;
    }
    return leading;
}

// What one subscriber got of one channel: messages (epoch, seq, data) and gaps, in order.
struct Delivered {
    struct Item {
        std::string epoch;
        std::uint64_t seq = 0;
        std::string data;
        bool gap = false;
        std::uint64_t from = 0;
        std::string reason;
    };
    std::map<std::string, std::vector<Item>> byChannel;
};

Delivered fromSse(const std::vector<SseEvent>& events) {
    Delivered out;
    for (const SseEvent& event : events) {
        if (event.event != "" && event.event != "gap") continue;
        json body = json::parse(event.data);
        const std::string channel = body["channel"];
        Delivered::Item item;
        item.epoch = epochIn(event.id, channel);
        if (event.event == "gap") {
            item.gap = true;
            item.from = body["from"];
            item.reason = body["reason"];
        } else {
            item.seq = body["seq"];
            item.data = body["data"].dump();
        }
        out.byChannel[channel].push_back(item);
    }
    return out;
}

// A WebSocket subscriber: its epoch per channel from the subscribed cursor, then each
// epoch_changed gap's `epoch`.
Delivered fromWs(const std::vector<std::string>& frames, const std::vector<std::string>& channels) {
    Delivered out;
    std::map<std::string, std::string> epoch;
    for (const std::string& text : frames) {
        json frame = json::parse(text);
        if (frame["type"] == "subscribed") {
            for (const std::string& channel : channels) epoch[channel] = epochIn(frame["cursor"], channel);
        } else if (frame["type"] == "gap") {
            Delivered::Item item;
            item.gap = true;
            item.epoch = epoch[frame["channel"]];
            item.from = frame["from"];
            item.reason = frame["reason"];
            if (item.reason == "epoch_changed") epoch[frame["channel"]] = frame["epoch"];
            out.byChannel[frame["channel"]].push_back(item);
        } else if (frame["type"] == "message") {
            Delivered::Item item;
            item.epoch = epoch[frame["channel"]];
            item.seq = frame["seq"];
            item.data = frame["data"].dump();
            out.byChannel[frame["channel"]].push_back(item);
        }
    }
    return out;
}

struct StormResult {
    std::vector<Delivered> subscribers;
    // Per channel: the acknowledged publishes, seq -> data (several lives: a seq may repeat).
    std::map<std::string, std::vector<std::pair<std::uint64_t, std::string>>> acknowledged;
    double failoverSeconds = 0;  // from the kill to the first acknowledged publish sent after it
    int refused = 0;
};

// Master, 2 replicas, 3 sentinels; two nodes on redis+sentinel://; subscribers (SSE on each
// node, WebSocket on b) of two channels; four publishers through both nodes; the master is
// killed -9 after 1 s; publishing goes on until 2 s after the first publish acknowledged
// by the promoted replica.
StormResult failoverStorm(const std::vector<std::string>& extra) {
    // Two replicas: after the failover the promoted one still has a replica (--broker-wait 1).
    RedisServer master(kPrompt), replica(kPrompt), second(kPrompt);
    for (const RedisServer* r : {&replica, &second}) replicate(*r, master);
    Sentinel s1(master.port()), s2(master.port()), s3(master.port());
    // Every sentinel knows the replica and the two other sentinels before the storm.
    REQUIRE(eventually(
        [&] {
            for (const Sentinel* s : {&s1, &s2, &s3}) {
                const std::string info = s->cli({"SENTINEL", "master", "mymaster"});
                if (info.find("num-slaves\n2\n") == std::string::npos ||
                    info.find("num-other-sentinels\n2\n") == std::string::npos) {
                    return false;
                }
            }
            return true;
        },
        30s));
    const std::string url = "redis+sentinel://127.0.0.1:" + std::to_string(s1.port()) +
                            ",127.0.0.1:" + std::to_string(s2.port()) + ",127.0.0.1:" + std::to_string(s3.port()) +
                            "/mymaster";
    std::vector<std::string> args{"--broker", url, "--broker-prefix", "t"};
    args.insert(args.end(), extra.begin(), extra.end());
    ServerProcess a(args), b(args);
    waitHealthy(a);
    waitHealthy(b);
    const std::vector<std::string> channels{"f0", "f1"};
    SseClient sseA(a.httpPort(), "/pushwire/sse?channels=f0,f1");
    SseClient sseB(b.httpPort(), "/pushwire/sse?channels=f0,f1");
    REQUIRE(sseA.waitFor(1, "welcome").size() == 1);
    REQUIRE(sseB.waitFor(1, "welcome").size() == 1);
    WsClient ws(b.wsUrl("?channels=f0,f1&since=0"));
    REQUIRE(ws.connected());
    REQUIRE(!ws.waitFor([](const std::string& f) { return f.find("\"subscribed\"") != std::string::npos; }).empty());

    StormResult result;
    std::mutex lock;
    std::atomic<bool> killed{false}, stop{false};
    std::atomic<long long> recoveredAt{0};
    const auto start = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point killAt;
    std::vector<std::thread> publishers;
    for (int p = 0; p < 4; ++p) {
        publishers.emplace_back([&, p] {
            const ServerProcess& node = p % 2 ? b : a;
            auto client = node.client();
            client.set_read_timeout(10, 0);
            for (int i = 0; !stop; ++i) {
                const std::string channel = channels[static_cast<std::size_t>(i + p) % 2];
                const std::string data = "\"p" + std::to_string(p) + "-" + std::to_string(i) + "\"";
                const bool sentAfterKill = killed;
                auto res = client.Post("/pushwire/publish", R"({"channel":")" + channel + R"(","data":)" + data + "}",
                                       "application/json");
                std::lock_guard<std::mutex> guard(lock);
                if (res && res->status == 200) {
                    result.acknowledged[channel].emplace_back(json::parse(res->body)["seq"].get<std::uint64_t>(), data);
                    if (sentAfterKill && recoveredAt == 0) {
                        recoveredAt = std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::steady_clock::now() - start)
                                          .count();
                    }
                } else {
                    ++result.refused;
                    std::this_thread::sleep_for(20ms);
                }
            }
        });
    }
    std::this_thread::sleep_for(1s);
    killAt = std::chrono::steady_clock::now();
    master.kill();
    killed = true;
    const bool recovered = eventually([&] { return recoveredAt != 0; }, 30s);
    if (recovered) std::this_thread::sleep_for(2s);
    stop = true;
    for (std::thread& t : publishers) t.join();
    REQUIRE(recovered);
    result.failoverSeconds =
        (static_cast<double>(recoveredAt.load()) -
         static_cast<double>(std::chrono::duration_cast<std::chrono::milliseconds>(killAt - start).count())) /
        1000.0;
    // A last message per channel through each node marks the end of what each subscriber gets
    // (sent again with its key until stored: with --broker-wait the other replica may still be
    // syncing from the new master, and WAIT then times out).
    for (const std::string& channel : channels) {
        for (const ServerProcess* node : {&a, &b}) {
            const std::string body = R"({"channel":")" + channel + R"(","data":"end","idempotency_key":"end-)" +
                                     std::to_string(node->httpPort()) + "\"}";
            REQUIRE(eventually(
                [&] {
                    auto res = node->client().Post("/pushwire/publish", body, "application/json");
                    return res && res->status == 200;
                },
                30s));
        }
    }
    auto ends = [](const Delivered& d) {
        int n = 0;
        for (const auto& [channel, items] : d.byChannel) {
            for (const auto& item : items) n += item.data == "\"end\"";
        }
        return n;
    };
    for (SseClient* sse : {&sseA, &sseB}) {
        REQUIRE(
            eventually([&] { return ends(fromSse(sse->all())) >= 4 || (sse->waitFor(1, "none", 50ms), false); }, 30s));
        result.subscribers.push_back(fromSse(sse->all()));
    }
    REQUIRE(eventually([&] { return ends(fromWs(ws.frames(), channels)) >= 4; }, 30s));
    result.subscribers.push_back(fromWs(ws.frames(), channels));
    return result;
}

// No (channel, epoch, seq) with two payloads, across every subscriber.
std::vector<std::string> conflicts(const StormResult& result) {
    std::map<std::tuple<std::string, std::string, std::uint64_t>, std::string> seen;
    std::vector<std::string> out;
    for (const Delivered& d : result.subscribers) {
        for (const auto& [channel, items] : d.byChannel) {
            for (const auto& item : items) {
                if (item.gap) continue;
                auto [at, added] = seen.emplace(std::make_tuple(channel, item.epoch, item.seq), item.data);
                if (!added && at->second != item.data) {
                    out.push_back(channel + " (" + item.epoch + ", " + std::to_string(item.seq) + "): " + at->second +
                                  " and " + item.data);
                }
            }
        }
    }
    return out;
}

// Acknowledged messages a subscriber neither got nor was told of by a gap that covers them
// (`from` at or below their seq); with `strict`, every one it did not get.
std::vector<std::string> missing(const StormResult& result, bool strict) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < result.subscribers.size(); ++i) {
        const Delivered& d = result.subscribers[i];
        for (const auto& [channel, acked] : result.acknowledged) {
            std::set<std::string> got;
            std::vector<std::uint64_t> gapsFrom;
            auto found = d.byChannel.find(channel);
            if (found != d.byChannel.end()) {
                for (const auto& item : found->second) {
                    if (item.gap) {
                        gapsFrom.push_back(item.from);
                    } else {
                        got.insert(item.data);
                    }
                }
            }
            for (const auto& [seq, data] : acked) {
                if (got.count(data)) continue;
                const bool covered =
                    std::any_of(gapsFrom.begin(), gapsFrom.end(), [&](std::uint64_t from) { return from <= seq; });
                if (strict || !covered) {
                    out.push_back("subscriber " + std::to_string(i) + " " + channel + " seq " + std::to_string(seq) +
                                  " " + data + (covered ? " (inside a gap)" : ""));
                }
            }
        }
    }
    return out;
}

}  // namespace

TEST_CASE("failover: a promoted replica that lacks acknowledged messages starts a new epoch, never reuses a seq",
          "[broker][failover]") {
    RedisServer master(kPrompt), replica;
    replicate(replica, master);
    ServerProcess a(brokerAt(master.port()));
    waitHealthy(a);
    Ledger ledger;
    const json first = publishOn(a, "fence", "m1");
    const json second = publishOn(a, "fence", "m2");
    REQUIRE(second["seq"] == 2);
    // The replica holds seqs 1 and 2, then is cut off and promoted: it never gets 3 and 4.
    REQUIRE(eventually([&] { return replica.cli({"HGET", "t:{fence}:m", "s"}) == "2\n"; }));
    REQUIRE(replica.cli({"REPLICAOF", "NO", "ONE"}) == "OK\n");
    publishOn(a, "fence", "m3");
    publishOn(a, "fence", "m4");
    json seenOnA = pollInto(a, "fence", "0", ledger);
    REQUIRE(seenOnA["messages"].size() == 4);
    const std::string oldEpoch = epochOf(seenOnA["cursor"].get<std::string>());

    // A node on the promoted replica publishes the channel without following it...
    ServerProcess b(brokerAt(replica.port()));
    waitHealthy(b);
    const json other = publishOn(b, "fence", "other");
    // ...and a reader there resumes from what the replica still holds (seq 2 of the old life).
    json resumed = pollInto(b, "fence", oldEpoch + "~fence@2", ledger);
    json fromStart = pollInto(b, "fence", "0", ledger);
    INFO(resumed.dump());
    INFO(fromStart.dump());
    CHECK(ledger.conflicts.empty());
    for (const std::string& conflict : ledger.conflicts) UNSCOPED_INFO(conflict);
    // The old life is over on the replica: an explicit epoch_changed gap, then the new life.
    REQUIRE(resumed["gaps"].size() == 1);
    CHECK(resumed["gaps"][0]["reason"] == "epoch_changed");
    CHECK(epochOf(resumed["cursor"].get<std::string>()) != oldEpoch);
    CHECK(other["seq"] == 1);
    REQUIRE(resumed["messages"].size() == 1);
    CHECK(resumed["messages"][0]["data"] == "other");
    (void)first;
}

namespace {

std::string replicationId(const RedisServer& redis) {
    const std::string info = redis.cli({"INFO", "replication"});
    const auto at = info.find("master_replid:");
    return at == std::string::npos ? std::string() : info.substr(at + 14, 40);
}

}  // namespace

// What Sentinel did in a probe: the new master died before the old one had resynced from
// it, and the old one (same process, its old data) was promoted again. Its channels' hashes
// still name it, but clients already followed the life the other master began: going back
// to the old life would give them its messages again. Each tenure as master is a life.
TEST_CASE("failover: a master demoted and promoted again starts a new epoch, never the life another master ended",
          "[broker][failover]") {
    RedisServer a(kPrompt), r;
    replicate(r, a);
    ServerProcess x(brokerAt(a.port()));
    waitHealthy(x);
    Ledger ledger;
    publishOn(x, "back", "m1");
    publishOn(x, "back", "m2");
    REQUIRE(eventually([&] { return r.cli({"HGET", "t:{back}:m", "s"}) == "2\n"; }));
    const std::string first = epochOf(pollInto(x, "back", "0", ledger)["cursor"].get<std::string>());

    // R is promoted; A becomes a replica of a master it never reaches: its data and its
    // run_id stay. A node on R begins another life there.
    REQUIRE(r.cli({"REPLICAOF", "NO", "ONE"}) == "OK\n");
    const std::string tenureBefore = replicationId(a);
    REQUIRE(a.cli({"REPLICAOF", "127.0.0.1", std::to_string(freeTcpPort())}) == "OK\n");
    ServerProcess y(brokerAt(r.port()));
    waitHealthy(y);
    publishOn(y, "back", "other");
    const json onR = pollInto(y, "back", first + "~back@2", ledger);
    REQUIRE(onR["gaps"].size() == 1);
    const std::string second = epochOf(onR["cursor"].get<std::string>());
    REQUIRE(second != first);
    // A publisher on X meanwhile: A is a replica (READONLY), refused.
    int status = 0;
    CHECK(tryPublish(x, "back", "\"refused\"", &status) == 0);
    CHECK(status == 503);

    // A is promoted again: the same process with the first life's data, another tenure.
    REQUIRE(a.cli({"REPLICAOF", "NO", "ONE"}) == "OK\n");
    REQUIRE(replicationId(a) != tenureBefore);
    std::uint64_t seq = 0;
    REQUIRE(eventually([&] { return (seq = tryPublish(x, "back", "\"m3\"")) > 0; }, 20000ms));
    CHECK(seq == 1);  // a new life, not the first one's seq 3
    // A reader that followed R's life, now on X: epoch_changed to a third life, and none of
    // the first life's messages again.
    const json resumed = pollInto(x, "back", second + "~back@1", ledger);
    INFO(resumed.dump());
    CHECK(ledger.conflicts.empty());
    REQUIRE(!resumed["gaps"].empty());
    for (const json& gap : resumed["gaps"]) CHECK(gap["reason"] == "epoch_changed");
    const std::string third = epochOf(resumed["cursor"].get<std::string>());
    CHECK(third != first);
    CHECK(third != second);
    for (const json& message : resumed["messages"]) CHECK(message["data"] == "m3");
}

TEST_CASE("failover: Sentinel promotes the replica after kill -9 of the master in a publish storm, never a lie",
          "[broker][failover][sentinel]") {
    StormResult result = failoverStorm({});
    WARN("failover (kill -9 to the first publish acknowledged after it): " << result.failoverSeconds << " s, "
                                                                           << result.refused << " publishes refused");
    const auto lies = conflicts(result);
    for (const std::string& lie : lies) UNSCOPED_INFO(lie);
    CHECK(lies.empty());
    const auto lost = missing(result, false);
    for (const std::string& message : lost) UNSCOPED_INFO(message);
    CHECK(lost.empty());
    // The promoted replica is another process: each channel's life changed, said by a gap.
    for (const Delivered& d : result.subscribers) {
        for (const auto& [channel, items] : d.byChannel) {
            CHECK(std::any_of(items.begin(), items.end(),
                              [](const Delivered::Item& item) { return item.reason == "epoch_changed"; }));
        }
    }
}

// Acknowledged means on a replica, announced, and handed to every subscriber node: after the
// failover the promoted replica holds every acknowledged message, so every subscriber gets
// each of them (before the new life's epoch_changed gap), even one its node heard behind a
// hole (an earlier message whose WAIT had not returned when the master died): the node reads
// the rest of the old life from the promoted replica rather than declare it lost.
TEST_CASE("failover: with --broker-wait 1 every acknowledged message is delivered through a Sentinel failover",
          "[broker][failover][sentinel]") {
    StormResult result = failoverStorm({"--broker-wait", "1"});
    const auto notDelivered = missing(result, true);
    WARN("failover with --broker-wait 1: " << result.failoverSeconds << " s, " << result.refused
                                           << " publishes refused, " << notDelivered.size()
                                           << " acknowledged deliveries missing (inside the gap)");
    const auto lies = conflicts(result);
    for (const std::string& lie : lies) UNSCOPED_INFO(lie);
    CHECK(lies.empty());
    for (const std::string& message : notDelivered) UNSCOPED_INFO(message);
    CHECK(notDelivered.empty());
}

// Sentinels with requirepass in front of a master with its own: the node reaches the sentinels
// with --broker-sentinel-password-file (the master's password from the environment), follows
// +switch-master on an authenticated sentinel connection, and shows neither password.
TEST_CASE(
    "failover: sentinels with requirepass, the node authenticates to them and follows the promoted replica, "
    "neither password is ever shown",
    "[broker][failover][sentinel]") {
    const std::string masterSecret = "m4ster-Pa55-31f0";
    const std::string sentinelSecret = "s3ntinel-Pa55-9c2d";
    RedisServer::Config config = kPrompt;
    config.password = masterSecret;
    config.extra.insert(config.extra.end(), {"--masterauth", masterSecret});
    RedisServer master(config), replica(config);
    replicate(replica, master);
    Sentinel s1(master.port(), masterSecret, sentinelSecret), s2(master.port(), masterSecret, sentinelSecret),
        s3(master.port(), masterSecret, sentinelSecret);
    REQUIRE(eventually(
        [&] {
            for (const Sentinel* s : {&s1, &s2, &s3}) {
                const std::string info = s->cli({"SENTINEL", "master", "mymaster"});
                if (info.find("num-slaves\n1\n") == std::string::npos ||
                    info.find("num-other-sentinels\n2\n") == std::string::npos) {
                    return false;
                }
            }
            return true;
        },
        30s));
    char templ[] = "/tmp/pushwire-sentinel-secret-XXXXXX";
    const int fd = mkstemp(templ);
    REQUIRE(fd >= 0);
    const std::string secretFile = templ;
    REQUIRE(::write(fd, (sentinelSecret + "\n").data(), sentinelSecret.size() + 1) ==
            static_cast<ssize_t>(sentinelSecret.size() + 1));
    ::close(fd);
    const std::string url = "redis+sentinel://127.0.0.1:" + std::to_string(s1.port()) +
                            ",127.0.0.1:" + std::to_string(s2.port()) + ",127.0.0.1:" + std::to_string(s3.port()) +
                            "/mymaster";
    auto shown = [](const ServerProcess& node) {
        std::string out = node.log();
        for (const char* target : {"/pushwire/healthz", "/pushwire/metrics"}) {
            if (auto res = node.client().Get(target)) out += res->body;
        }
        return out;
    };

    SECTION("without the sentinels' password: unavailable, saying why") {
        ServerProcess node({"--broker", url}, {"PUSHWIRE_BROKER_PASSWORD=" + masterSecret});
        REQUIRE(eventually([&] {
            auto health = node.client().Get("/pushwire/healthz");
            return health && health->status == 503 && health->body.find("NOAUTH") != std::string::npos;
        }));
        CHECK(shown(node).find(masterSecret) == std::string::npos);
    }
    SECTION("with it: publishes, survives kill -9 of the master, never shows a password") {
        ServerProcess node({"--broker", url, "--broker-sentinel-password-file", secretFile},
                           {"PUSHWIRE_BROKER_PASSWORD=" + masterSecret});
        waitHealthy(node);
        publishOn(node, "auth", "before");
        master.kill();
        const auto killedAt = std::chrono::steady_clock::now();
        REQUIRE(eventually(
            [&] {
                auto res =
                    node.client().Post("/pushwire/publish", R"({"channel":"auth","data":"after"})", "application/json");
                return res && res->status == 200;
            },
            30s));
        WARN("sentinels with requirepass: kill -9 to the first acknowledged publish "
             << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - killedAt)
                    .count()
             << " ms");
        CHECK(replica.cli({"ROLE"}).rfind("master", 0) == 0);
        const std::string all = shown(node);
        CHECK(all.find(masterSecret) == std::string::npos);
        CHECK(all.find(sentinelSecret) == std::string::npos);
    }
    std::remove(secretFile.c_str());
}

// A first-day mistake: a sentinel's address given as redis://. A Sentinel answers PING and
// INFO (a run_id, no role); it was called "a replica (INFO replication role:)". The node
// says what it reached and the scheme to use, and logs it once however often it tries again.
TEST_CASE("redis: a Sentinel's port given as redis:// is named a Sentinel, with the redis+sentinel:// to use",
          "[broker][sentinel]") {
    RedisServer master;
    Sentinel sentinel(master.port());
    REQUIRE(eventually([&] { return sentinel.cli({"PING"}) == "PONG\n"; }));
    ServerProcess node(brokerAt(sentinel.port()));
    auto connections = [&] {
        const std::string stats = sentinel.cli({"INFO", "stats"});
        const auto at = stats.find("total_connections_received:");
        return at == std::string::npos ? 0 : std::atoi(stats.c_str() + at + std::strlen("total_connections_received:"));
    };
    const int before = connections();
    std::string health;
    REQUIRE(eventually([&] {
        auto res = node.client().Get("/pushwire/healthz");
        health = res ? res->body : std::string();
        return res && res->status == 503 && health.find("Sentinel") != std::string::npos;
    }));
    INFO(health);
    CHECK_THAT(health, Catch::Contains("this is a Redis Sentinel (INFO redis_mode:sentinel)") &&
                           Catch::Contains("use redis+sentinel://host:port/MASTER-NAME"));
    CHECK(health.find("replica") == std::string::npos);
    auto res = node.client().Post("/pushwire/publish", R"({"channel":"c","data":1})", "application/json");
    REQUIRE(res);
    CHECK(res->status == 503);
    CHECK_THAT(res->body, Catch::Contains("redis+sentinel://"));
    // Tried again (a new connection each time), said once.
    REQUIRE(eventually([&] { return connections() >= before + 3; }, 30s));
    const std::string log = node.log();
    std::size_t said = 0;
    for (auto at = log.find("error broker_misconfigured"); at != std::string::npos;
         at = log.find("error broker_misconfigured", at + 1))
        ++said;
    INFO(log);
    CHECK(said == 1);
}

}  // namespace redis_failover_test
