// pushwire-bench scenarios:
//   fanout  S subscribers on one channel; M messages of B bytes at rate R; loss,
//           duplicates, deliveries/s, server CPU µs per delivery, latency percentiles.
//   idle    N subscribers held; time to connect them all, server RSS per subscriber,
//           then publish latency (to another channel) while they are held.
//   big-publish  one publish whose data is an object of N keys, N doubling up to --keys:
//           the server's CPU per key, which stays flat while reading a body is linear.
//   presence  a join storm on one presence channel, presence_stats latency with it full,
//           the idle refresh, the leave storm (presence.cpp).
//   chat    many small channels, publishes spread over them from HTTP keep-alive
//           connections and from WebSocket chat clients (chat.cpp): CPU per publish.
// Prints one JSON object on stdout and a readable line on stderr.
#include <charconv>
#include <cstdio>
#include <iostream>

#include "bench.hpp"
#include "fleet.hpp"

using namespace pushwire::bench;

namespace {

const char* kUsage = R"(pushwire-bench: load generator for pushwire and Nchan

  --target pushwire|nchan     server kind (URL scheme)          [pushwire]
  --transport websocket|sse|longpoll|poll                       [websocket]
  --scenario fanout|idle|big-publish|chat|presence              [fanout]
  --host H --port P           HTTP port (Nchan: everything)     [127.0.0.1 8080]
  --ws-port P                 pushwire's WebSocket port         [port+1]
  --pid PID                   server process to measure (repeatable)
  --subscribers N  --messages M  --bytes B  --rate R (msg/s, 0 = as fast as accepted)
  --warmup W                  fanout: W messages first, checked, not measured [20]
  --poll-interval-ms MS       poll subscribers' interval        [1000]
  --duration-ms MS            idle: publish-under-load phase    [5000]
  --keys N                    big-publish: the largest object's keys (N/8 to N) [400000]
  --channel NAME                                                [bench]
  --subscribe-node P:W        subscribers on this node too (HTTP port P, WebSocket port W),
                              round-robin over every one given (repeatable); publishes
                              still go to --port
  --token JWT                 subscribers authenticate with it (pushwire, token= query)
  --api-key KEY               the publisher sends Authorization: ApiKey KEY (pushwire)
  --expect-no-loss            exit 1 unless every message arrived exactly once
chat (--transport websocket|sse|longpoll; --messages: publishes in all, spread evenly):
  --channels N  --per-channel S   N channels of S subscribers each [9000 2]
                                  (S 0: publishes only, no subscriber)
  --publish-from http|ws|both     who publishes (ws: WebSocket only) [both]
  --http-publishers P             keep-alive HTTP connections publishing [8]
  --batch B                       pushwire: B publishes per NDJSON request [1]
  --redis-node P                  a Redis node whose CPU and bytes sent (INFO) over the
                                  measured publishes are reported, per node (repeatable)
presence (pushwire, WebSocket; presence.cpp): --subscribers join --channel (a presence
channel) at once, --duration-ms idle with them held, then all leave; needs --api-key:
  --redis-port P                  count the Redis commands of the idle phase
)";

struct Args {
    Config config;
    int keys = 400000;
    bool expectNoLoss = false;
    bool wsPortGiven = false;
};

bool parse(int argc, char** argv, Args& args) {
    Config& c = args.config;
    for (int i = 1; i < argc; ++i) {
        std::string name = argv[i];
        if (name == "--help") return false;
        if (name == "--expect-no-loss") {
            args.expectNoLoss = true;
            continue;
        }
        if (i + 1 >= argc) {
            std::cerr << "pushwire-bench: " << name << " needs a value\n";
            return false;
        }
        std::string value = argv[++i];
        try {
            if (name == "--target") {
                if (value != "pushwire" && value != "nchan") throw std::invalid_argument(value);
                c.target = value == "nchan" ? Target::Nchan : Target::Pushwire;
            } else if (name == "--transport") {
                if (value == "websocket") c.mode = Mode::WebSocket;
                else if (value == "sse") c.mode = Mode::Sse;
                else if (value == "longpoll") c.mode = Mode::LongPoll;
                else if (value == "poll") c.mode = Mode::Poll;
                else throw std::invalid_argument(value);
            } else if (name == "--scenario") {
                if (value != "fanout" && value != "idle" && value != "big-publish" && value != "chat" &&
                    value != "presence")
                    throw std::invalid_argument(value);
                c.scenario = value;
            } else if (name == "--host") c.host = value;
            else if (name == "--port") c.port = std::stoi(value);
            else if (name == "--ws-port") {
                c.wsPort = std::stoi(value);
                args.wsPortGiven = true;
            } else if (name == "--pid") c.serverPids.push_back(static_cast<pid_t>(std::stoi(value)));
            else if (name == "--subscribers") c.subscribers = std::stoi(value);
            else if (name == "--messages") c.messages = std::stoi(value);
            else if (name == "--bytes") c.messageBytes = std::stoi(value);
            else if (name == "--rate") c.rate = std::stod(value);
            else if (name == "--poll-interval-ms") c.pollIntervalMs = std::stoi(value);
            else if (name == "--duration-ms") c.durationMs = std::stoi(value);
            else if (name == "--keys") args.keys = std::stoi(value);
            else if (name == "--warmup") c.warmup = std::stoi(value);
            else if (name == "--channel") c.channel = value;
            else if (name == "--token") c.token = value;
            else if (name == "--api-key") c.apiKey = value;
            else if (name == "--redis-port") c.redisPort = std::stoi(value);
            else if (name == "--redis-node") c.redisNodes.push_back(std::stoi(value));
            else if (name == "--channels") c.channels = std::stoi(value);
            else if (name == "--per-channel") c.perChannel = std::stoi(value);
            else if (name == "--http-publishers") c.httpPublishers = std::stoi(value);
            else if (name == "--batch") c.batch = std::stoi(value);
            else if (name == "--publish-from") {
                if (value != "http" && value != "ws" && value != "both") throw std::invalid_argument(value);
                c.publishFrom = value;
            } else if (name == "--subscribe-node") {
                auto colon = value.find(':');
                if (colon == std::string::npos) throw std::invalid_argument(value);
                c.subscribeNodes.emplace_back(std::stoi(value.substr(0, colon)), std::stoi(value.substr(colon + 1)));
            } else {
                std::cerr << "pushwire-bench: unknown option " << name << "\n";
                return false;
            }
        } catch (const std::exception&) {
            std::cerr << "pushwire-bench: bad value for " << name << ": " << value << "\n";
            return false;
        }
    }
    if (!args.wsPortGiven) c.wsPort = c.port + 1;
    if (c.scenario == "chat" &&
        (c.channels < 1 || c.perChannel < 0 || c.httpPublishers < 1 || c.batch < 1 || c.mode == Mode::Poll)) {
        std::cerr << "pushwire-bench: chat takes --channels, --http-publishers and --batch of 1 or more, --per-channel "
                     "of 0 (publishes only) or more, and websocket, sse or longpoll subscribers\n";
        return false;
    }
    return true;
}

void printJsonString(const std::string& s) {
    std::cout << '"';
    for (char ch : s) {
        if (ch == '"' || ch == '\\') std::cout << '\\' << ch;
        else if (static_cast<unsigned char>(ch) < 0x20) std::cout << ' ';
        else std::cout << ch;
    }
    std::cout << '"';
}

int fanout(const Args& args) {
    const Config& c = args.config;
    asio::io_context io(1);
    Tally tally;
    Fleet fleet(io);
    double connectSeconds = fleet.connect(io, c, c.channel, c.subscribers, tally);
    // Let parked requests reach the server before the first publish.
    runUntil(
        io, [] { return false; }, std::chrono::milliseconds(c.mode == Mode::Poll ? c.pollIntervalMs + 200 : 500));

    const std::uint64_t subscribed = static_cast<std::uint64_t>(c.subscribers - static_cast<int>(tally.failed));
    Publisher publisher(io, c);
    // Publishes messages [first, first + count) and runs until every subscriber has all
    // of them (or nothing arrives for 5 s after the last publish). Returns how many
    // deliveries that is since the first message of the run.
    auto publishAndWait = [&](std::int64_t first, int count) {
        const std::uint64_t expected = subscribed * static_cast<std::uint64_t>(first + count);
        bool published = false;
        publisher.run(c.channel, first, count, [&] { published = true; });
        const auto publishTime = std::chrono::milliseconds(c.rate > 0 ? static_cast<int>(count * 1000 / c.rate) : 0);
        std::uint64_t lastReceived = tally.received;
        auto lastProgress = Clock::now();
        runUntil(
            io,
            [&] {
                if (tally.received != lastReceived) {
                    lastReceived = tally.received;
                    lastProgress = Clock::now();
                }
                bool stalled = published && Clock::now() - lastProgress > std::chrono::seconds(5);
                return (published && tally.received >= expected) || stalled;
            },
            publishTime + std::chrono::seconds(120));
        return expected;
    };
    // Warm-up: the first messages on fresh connections cost both servers more (the
    // kernel acknowledges every segment of a new TCP connection at once, allocations
    // happen for the first time); they are checked for loss but not measured.
    if (c.warmup > 0) {
        publishAndWait(0, c.warmup);
        tally.latencyUs.clear();
        publisher.latencyUs().clear();
    }
    tally.measureFrom = c.warmup;
    const std::uint64_t receivedBefore = tally.received;
    ProcSample before = sample(c.serverPids);
    double selfBefore = selfCpuSeconds();
    auto begin = Clock::now();
    const std::uint64_t expected = publishAndWait(c.warmup, c.messages);
    double seconds = std::chrono::duration<double>(Clock::now() - begin).count();
    ProcSample after = sample(c.serverPids);
    double selfCpu = selfCpuSeconds() - selfBefore;
    Percentiles latency = percentiles(tally.latencyUs);
    Percentiles publish = percentiles(publisher.latencyUs());
    const double publishRate = publisher.achievedRate();
    fleet.stop(io);

    const double deliveries = static_cast<double>(tally.received - receivedBefore);
    const double serverCpuUs = deliveries > 0 ? (after.cpuSeconds - before.cpuSeconds) * 1e6 / deliveries : 0;
    const double benchCpuUs = deliveries > 0 ? selfCpu * 1e6 / deliveries : 0;
    const std::uint64_t lost = expected > tally.received ? expected - tally.received : 0;
    std::cout << "{\"scenario\":\"fanout\",\"target\":\"" << targetName(c.target) << "\",\"transport\":\""
              << modeName(c.mode) << "\",\"subscribers\":" << c.subscribers << ",\"messages\":" << c.messages
              << ",\"bytes\":" << c.messageBytes << ",\"rate\":" << c.rate << ",\"warmup\":" << c.warmup
              << ",\"expected\":" << expected << ",\"received\":" << tally.received << ",\"lost\":" << lost
              << ",\"duplicates\":" << tally.duplicates << ",\"failed_subscribers\":" << tally.failed
              << ",\"connect_s\":" << connectSeconds << ",\"deliveries_per_s\":" << deliveries / seconds
              << ",\"server_rss_bytes\":" << after.rssBytes << ",\"server_cpu_us_per_delivery\":" << serverCpuUs
              << ",\"bench_cpu_us_per_delivery\":" << benchCpuUs << ",\"latency_ms\":{\"p50\":" << latency.p50
              << ",\"p99\":" << latency.p99 << ",\"max\":" << latency.max << "},\"publish_ms\":{\"p50\":" << publish.p50
              << ",\"p99\":" << publish.p99 << "},\"publish_rate\":" << publishRate
              << ",\"publish_errors\":" << publisher.errors() << ",\"error\":";
    printJsonString(tally.firstError);
    std::cout << "}" << std::endl;
    std::fprintf(stderr,
                 "%s %s fanout: %d subs x %d msgs: received %llu/%llu, dup %llu, server %.2f us/delivery "
                 "(bench %.2f), latency p50 %.2f p99 %.2f max %.2f ms, %.0f msg/s published%s%s\n",
                 targetName(c.target), modeName(c.mode), c.subscribers, c.messages,
                 static_cast<unsigned long long>(tally.received), static_cast<unsigned long long>(expected),
                 static_cast<unsigned long long>(tally.duplicates), serverCpuUs, benchCpuUs, latency.p50, latency.p99,
                 latency.max, publishRate, tally.firstError.empty() ? "" : " | ", tally.firstError.c_str());
    const bool clean = lost == 0 && tally.duplicates == 0 && tally.failed == 0 && publisher.errors() == 0;
    return args.expectNoLoss && !clean ? 1 : 0;
}

int idle(const Args& args) {
    const Config& c = args.config;
    asio::io_context io(1);
    Tally tally;
    Fleet fleet(io);
    ProcSample before = sample(c.serverPids);
    double connectSeconds = fleet.connect(io, c, c.channel + "-idle", c.subscribers, tally);
    runUntil(
        io, [] { return false; }, std::chrono::milliseconds(2000));
    ProcSample held = sample(c.serverPids);
    const double rssPerSub = tally.established > 0 ? static_cast<double>(held.rssBytes - before.rssBytes) /
                                                         static_cast<double>(tally.established)
                                                   : 0;
    Config pubConfig = c;
    pubConfig.rate = 100;
    int count = std::max(1, c.durationMs / 10);
    Publisher publisher(io, pubConfig);
    bool published = false;
    publisher.run(c.channel + "-pub", 0, count, [&] { published = true; });
    runUntil(
        io, [&] { return published; }, std::chrono::milliseconds(c.durationMs + 30000));
    Percentiles publish = percentiles(publisher.latencyUs());
    const std::uint64_t stillHeld = tally.established;
    fleet.stop(io);
    std::cout << "{\"scenario\":\"idle\",\"target\":\"" << targetName(c.target) << "\",\"transport\":\""
              << modeName(c.mode) << "\",\"subscribers\":" << c.subscribers << ",\"established\":" << stillHeld
              << ",\"failed_subscribers\":" << tally.failed << ",\"connect_s\":" << connectSeconds
              << ",\"rss_per_subscriber_bytes\":" << rssPerSub << ",\"publish_ms\":{\"p50\":" << publish.p50
              << ",\"p99\":" << publish.p99 << ",\"max\":" << publish.max
              << "},\"publish_errors\":" << publisher.errors() << ",\"error\":";
    printJsonString(tally.firstError);
    std::cout << "}" << std::endl;
    std::fprintf(stderr,
                 "%s %s idle: %llu/%d held in %.2f s, %.0f B RSS per subscriber, publish p50 %.2f p99 %.2f ms%s%s\n",
                 targetName(c.target), modeName(c.mode), static_cast<unsigned long long>(stillHeld), c.subscribers,
                 connectSeconds, rssPerSub, publish.p50, publish.p99, tally.firstError.empty() ? "" : " | ",
                 tally.firstError.c_str());
    return args.expectNoLoss && (tally.failed > 0 || publisher.errors() > 0) ? 1 : 0;
}

// POST over a connection of its own; returns the answer's status (0: none).
int postOnce(const Config& c, const std::string& path, const std::string& body) {
    return httpPost(c, path, body).status;
}

int bigPublish(const Args& args) {
    const Config& c = args.config;
    std::cout << "{\"scenario\":\"big_publish\",\"target\":\"" << targetName(c.target)
              << "\",\"transport\":\"http\",\"sizes\":[";
    double firstUs = 0, lastUs = 0;
    bool clean = true;
    for (int keys = std::max(1, args.keys / 8), i = 0; keys <= args.keys; keys *= 2, ++i) {
        std::string body = "{\"channel\":\"" + c.channel + "\",\"data\":{";
        for (int k = 0; k < keys; ++k) body += (k ? ",\"k" : "\"k") + std::to_string(k) + "\":1";
        body += "}}";
        const ProcSample before = sample(c.serverPids);
        const auto begin = Clock::now();
        const int status = postOnce(c, "/pushwire/publish", body);
        const double wallMs = std::chrono::duration<double, std::milli>(Clock::now() - begin).count();
        const ProcSample after = sample(c.serverPids);
        const double cpuMs = (after.cpuSeconds - before.cpuSeconds) * 1e3;
        const double usPerKey = cpuMs * 1e3 / keys;
        if (i == 0) firstUs = usPerKey;
        lastUs = usPerKey;
        clean = clean && status == 200;
        std::cout << (i ? "," : "") << "{\"keys\":" << keys << ",\"bytes\":" << body.size() << ",\"status\":" << status
                  << ",\"server_cpu_ms\":" << cpuMs << ",\"wall_ms\":" << wallMs
                  << ",\"server_cpu_us_per_key\":" << usPerKey << "}";
        std::fprintf(stderr, "%s big-publish: %d keys (%zu bytes): %d, server %.1f ms CPU, %.3f us/key, %.1f ms\n",
                     targetName(c.target), keys, body.size(), status, cpuMs, usPerKey, wallMs);
    }
    std::cout << "],\"growth\":" << (firstUs > 0 ? lastUs / firstUs : 0) << "}" << std::endl;
    return args.expectNoLoss && !clean ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
    Args args;
    if (!parse(argc, argv, args)) {
        std::cerr << kUsage;
        return 2;
    }
    if (args.config.scenario == "big-publish") return bigPublish(args);
    if (args.config.scenario == "chat") return chat(args.config, args.expectNoLoss);
    if (args.config.scenario == "presence") return presence(args.config, args.expectNoLoss);
    return args.config.scenario == "idle" ? idle(args) : fanout(args);
}
