// The presence scenario (pushwire only): a join storm on one channel, then the member
// set read back while it is full, an idle spell that counts the refresh, and the leave
// storm. The server runs with the channel in --presence (and --join-leave for the join
// events), --presence-grace-ms 0 (a leave is the close, not 5 s later) and an API key; the
// same run on a channel outside --presence is the baseline a join's cost is set against.
//
// Phases, each timed and its server CPU (every --pid: nodes and Redis) measured:
// 1. join storm: --subscribers WebSocket subscribers of --channel, --connect-concurrency
//    opening at once; complete when the API's presence_stats counts them all (the
//    server's member set), then "delivered" when a message published after it reached
//    every subscriber: the stream is ordered, so each has read every join before it.
// 2. stats: presence_stats asked 1,000 times (one connection each, as a backend asks it),
//    and presence (the member list, up to --max-presence-members) 100 times: latency.
// 3. idle: --duration-ms with every member held; server CPU per member per minute, and
//    with --redis-port the Redis commands the nodes sent (INFO commandstats) in it.
// 4. leave storm: every subscriber closes; complete when presence_stats counts none.
// On a channel outside --presence ("plain", the baseline) members are the subscribers the
// server confirmed, leaves end when /metrics shows no WebSocket, and there is no stats phase.

#include <cstdio>
#include <iostream>
#include <map>

#include "fleet.hpp"

namespace pushwire::bench {

namespace {

// Redis's INFO commandstats: calls by command (empty: no answer).
std::map<std::string, std::uint64_t> redisCommandCalls(const Config& c) {
    const std::string answer = exchange(c.host, c.redisPort, "INFO commandstats\r\nQUIT\r\n");
    std::map<std::string, std::uint64_t> calls;  // lines "cmdstat_NAME:calls=N,..."
    for (std::size_t at = 0; (at = answer.find("cmdstat_", at)) != std::string::npos;) {
        const auto colon = answer.find(":calls=", at);
        if (colon == std::string::npos) break;
        calls[answer.substr(at + 8, colon - at - 8)] = std::strtoull(answer.c_str() + colon + 7, nullptr, 10);
        at = colon;
    }
    return calls;
}

// presence_stats' "clients" (-1: no good answer).
long statsClients(const Config& c, const std::string& channel) {
    const HttpAnswer answer = httpPost(c, "/pushwire/api/presence_stats", "{\"channel\":\"" + channel + "\"}");
    const auto at = answer.body.find("\"clients\":");
    if (answer.status != 200 || at == std::string::npos) return -1;
    return std::strtol(answer.body.c_str() + at + 10, nullptr, 10);
}

struct Phase {
    double seconds = 0;
    double cpuSeconds = 0;
};

}  // namespace

int presence(const Config& c, bool expectNoLoss) {
    asio::io_context io(1);
    Tally tally;
    Fleet fleet(io);
    const auto n = static_cast<long>(c.subscribers);
    bool clean = true;
    std::string error;
    auto failed = [&](const std::string& why) {
        clean = false;
        if (error.empty()) error = why;
    };
    auto measure = [&](const std::function<void()>& work) {
        const ProcSample before = sample(c.serverPids);
        const auto begin = Clock::now();
        work();
        return Phase{std::chrono::duration<double>(Clock::now() - begin).count(),
                     sample(c.serverPids).cpuSeconds - before.cpuSeconds};
    };
    std::function<bool(long)> waitForClients = [&](long want) {
        return runUntil(
            io,
            [&] {
                io.run_for(std::chrono::milliseconds(20));  // the subscribers keep reading meanwhile
                return statsClients(c, c.channel) == want;
            },
            std::chrono::seconds(120));
    };

    // A channel outside --presence (presence_stats answers 404): the same storm without
    // presence, the baseline. Its members are the subscribers the server confirmed, and
    // the leave storm ends when the server holds no WebSocket connection.
    const bool plain = httpPost(c, "/pushwire/api/presence_stats", "{\"channel\":\"" + c.channel + "\"}").status == 404;
    auto websocketsHeld = [&] {
        static constexpr std::string_view kMetric = "pushwire_connections{transport=\"websocket\"} ";
        const HttpAnswer metrics = httpGet(c, "/pushwire/metrics");
        const auto at = metrics.body.find(kMetric);
        return at == std::string::npos ? -1L : std::strtol(metrics.body.c_str() + at + kMetric.size(), nullptr, 10);
    };
    if (plain) {
        waitForClients = [&](long want) {
            return runUntil(
                io, [&] { return want == 0 ? websocketsHeld() == 0 : static_cast<long>(tally.established) >= want; },
                std::chrono::seconds(120));
        };
    }

    // 1. Join storm.
    double membersSeconds = 0;
    const Phase join = measure([&] {
        const auto begin = Clock::now();
        fleet.connect(io, c, c.channel, c.subscribers, tally);
        if (!waitForClients(n - static_cast<long>(tally.failed))) failed("the server never counted every member");
        membersSeconds = std::chrono::duration<double>(Clock::now() - begin).count();
        Publisher publisher(io, c);
        bool published = false;
        publisher.run(c.channel, 0, 1, [&] { published = true; });
        const auto expected = static_cast<std::uint64_t>(n) - tally.failed;
        if (!runUntil(
                io, [&] { return published && tally.received >= expected; }, std::chrono::seconds(120)))
            failed("the message after the joins did not reach every subscriber");
    });

    // 2. presence_stats and presence while every member is there.
    std::vector<std::uint32_t> statsUs, listUs;
    const Phase stats = measure([&] {
        for (int i = 0; i < (plain ? 0 : 1000); ++i) {
            const auto begin = Clock::now();
            if (statsClients(c, c.channel) != n - static_cast<long>(tally.failed)) failed("presence_stats miscounted");
            statsUs.push_back(static_cast<std::uint32_t>(
                std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - begin).count()));
            if (i % 50 == 0) io.poll();
        }
        for (int i = 0; i < (plain ? 0 : 100); ++i) {
            const auto begin = Clock::now();
            const HttpAnswer answer = httpPost(c, "/pushwire/api/presence", "{\"channel\":\"" + c.channel + "\"}");
            if (answer.status != 200) failed("presence answered " + std::to_string(answer.status));
            listUs.push_back(static_cast<std::uint32_t>(
                std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - begin).count()));
            io.poll();
        }
    });
    (void)stats;
    const Percentiles statsMs = percentiles(statsUs), listMs = percentiles(listUs);

    // 3. Idle: the refresh.
    std::map<std::string, std::uint64_t> callsBefore;
    if (c.redisPort) callsBefore = redisCommandCalls(c);
    const Phase idle = measure([&] {
        runUntil(
            io, [] { return false; }, std::chrono::milliseconds(c.durationMs));
    });
    std::map<std::string, std::uint64_t> redisCalls;  // what the node sent meanwhile, by command
    std::uint64_t redisCallsAll = 0;
    if (c.redisPort) {
        for (const auto& [command, calls] : redisCommandCalls(c)) {
            // The INFO of the count itself is not the node's.
            const std::uint64_t sent = calls - callsBefore[command] - (command == "info" ? 1 : 0);
            if (sent > 0) redisCalls[command] = sent;
            redisCallsAll += sent;
        }
    }

    // 4. Leave storm.
    const Phase leave = measure([&] {
        for (auto& s : fleet.members) s->stop();
        if (!waitForClients(0)) failed("the server never counted every leave");
    });
    fleet.members.clear();
    if (tally.failed > 0) failed(tally.firstError);

    const double members = static_cast<double>(n - static_cast<long>(tally.failed));
    const double idleCpuUsPerMemberMinute =
        members > 0 && idle.seconds > 0 ? idle.cpuSeconds * 1e6 / members / (idle.seconds / 60) : 0;
    std::cout << "{\"scenario\":\"presence\",\"target\":\"pushwire\",\"transport\":\"websocket\",\"subscribers\":" << n
              << ",\"failed_subscribers\":" << tally.failed << ",\"members_s\":" << membersSeconds
              << ",\"join_s\":" << join.seconds
              << ",\"join_cpu_us_per_member\":" << (members > 0 ? join.cpuSeconds * 1e6 / members : 0)
              << ",\"stats_ms\":{\"p50\":" << statsMs.p50 << ",\"p99\":" << statsMs.p99 << ",\"max\":" << statsMs.max
              << "},\"list_ms\":{\"p50\":" << listMs.p50 << ",\"p99\":" << listMs.p99 << "},\"idle_s\":" << idle.seconds
              << ",\"idle_cpu_us_per_member_minute\":" << idleCpuUsPerMemberMinute
              << ",\"redis_commands_idle\":" << redisCallsAll << ",\"redis_idle_by_command\":{";
    for (auto it = redisCalls.begin(); it != redisCalls.end(); ++it)
        std::cout << (it == redisCalls.begin() ? "" : ",") << '"' << it->first << "\":" << it->second;
    std::cout << "}"
              << ",\"leave_s\":" << leave.seconds
              << ",\"leave_cpu_us_per_member\":" << (members > 0 ? leave.cpuSeconds * 1e6 / members : 0)
              << ",\"error\":\"" << (error.find('"') == std::string::npos ? error : "see stderr") << "\"}" << std::endl;
    std::fprintf(stderr,
                 "pushwire presence %s: %ld joins: members in %.2f s, delivered in %.2f s, %.1f us CPU/join; "
                 "stats p50 %.2f p99 %.2f ms, list p99 %.2f ms; idle %.1f us CPU/member/min, %llu Redis commands in "
                 "%.0f s; %.2f s to leave, %.1f us CPU/leave%s%s\n",
                 c.channel.c_str(), n, membersSeconds, join.seconds, members > 0 ? join.cpuSeconds * 1e6 / members : 0,
                 statsMs.p50, statsMs.p99, listMs.p99, idleCpuUsPerMemberMinute,
                 static_cast<unsigned long long>(redisCallsAll), idle.seconds, leave.seconds,
                 members > 0 ? leave.cpuSeconds * 1e6 / members : 0, error.empty() ? "" : " | ", error.c_str());
    return expectNoLoss && !clean ? 1 : 0;
}

}  // namespace pushwire::bench
