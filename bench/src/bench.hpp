// pushwire-bench: a load generator for pushwire and Nchan. One asio event loop holds
// every connection, so the generator stays cheaper than the server it measures.
//
// Every published message carries {"i":<index>,"t":<send time, ns>} in its data; the
// subscribers find those two numbers in whatever framing the server uses, which gives
// loss, duplicates and publish-to-receipt latency without parsing each envelope.
#pragma once

#include <sys/types.h>

#include <asio.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace pushwire::bench {

enum class Target { Pushwire, Nchan };
enum class Mode { WebSocket, Sse, LongPoll, Poll };

struct Config {
    Target target = Target::Pushwire;
    Mode mode = Mode::WebSocket;
    std::string host = "127.0.0.1";
    int port = 8080;
    int wsPort = 8081;              // pushwire only; Nchan serves WebSocket on `port`
    std::vector<pid_t> serverPids;  // whose CPU and RSS are measured
    std::string scenario = "fanout";
    int subscribers = 100;
    int messages = 100;
    int messageBytes = 100;
    double rate = 100;  // messages per second; 0: as fast as accepted
    int pollIntervalMs = 1000;
    int durationMs = 5000;  // publish-under-load phase of "idle"
    int warmup = 20;        // fanout: messages before the measured ones
    std::string channel = "bench";
    std::string token;             // pushwire: subscribers send it (token= in the URL)
    std::string apiKey;            // pushwire: the publisher's Authorization: ApiKey
    int connectConcurrency = 256;  // connections being opened at once
    // Subscribers spread over these nodes ({http port, WebSocket port}), round-robin;
    // empty: all on `port`/`wsPort`. Publishing goes to `port`.
    std::vector<std::pair<int, int>> subscribeNodes;
    // chat: --channels channels of --per-channel subscribers each; publishes from
    // --http-publishers keep-alive connections (--batch publishes per NDJSON request,
    // pushwire) and, with --publish-from ws or both, from one WebSocket subscriber of each
    // of half the channels (all of them with ws), in-band. `pubsub`: Nchan's WebSocket
    // subscribers that also publish connect to its pubsub location.
    int channels = 9000;
    int perChannel = 2;
    int httpPublishers = 8;
    int batch = 1;
    std::string publishFrom = "both";
    bool pubsub = false;
    // presence: the Redis whose commands are counted (0: none), and how long the idle
    // phase lasts (--duration-ms) to count the refresh.
    int redisPort = 0;
    // chat: Redis nodes (ports on `host`) whose CPU and bytes sent (INFO) are measured over
    // the measured publishes, each on its own (--redis-node, repeatable).
    std::vector<int> redisNodes;
};

const char* modeName(Mode mode);
const char* targetName(Target target);

using Clock = std::chrono::steady_clock;
std::int64_t nowNs();

// What all subscribers of a run add up to.
struct Tally {
    std::uint64_t received = 0;
    std::uint64_t duplicates = 0;
    std::uint64_t missing = 0;  // holes in a subscriber's sequence
    std::uint64_t established = 0;
    std::uint64_t failed = 0;
    std::int64_t measureFrom = 0;  // latency is kept for message indexes from here on
    std::vector<std::uint32_t> latencyUs;
    std::string firstError;
};

// Scans `text` for every {"i":N,"t":T} and reports them; returns the offset after the
// last complete match (for stream framings, where text may end mid-message).
void scanMessages(std::string_view text, const std::function<void(std::int64_t, std::int64_t)>& found);

// Per-subscriber ordering check shared by every client kind.
struct Sequence {
    std::int64_t last = -1;
    void seen(std::int64_t index, std::int64_t sentNs, Tally& tally);
};

std::string payload(std::int64_t index, int bytes);

// /proc readings for a set of processes.
struct ProcSample {
    double cpuSeconds = 0;  // on-CPU time of all threads (schedstat; utime + stime without it)
    std::int64_t rssBytes = 0;
};
ProcSample sample(const std::vector<pid_t>& pids);
// One Redis node's counters from INFO: used_cpu_sys + used_cpu_user (seconds, the whole
// process) and total_net_output_bytes; ok false when it did not answer.
struct RedisSample {
    bool ok = false;
    double cpuSeconds = 0;
    double outputBytes = 0;
};
RedisSample redisSample(const std::string& host, int port);
double selfCpuSeconds();

// Subscribers -----------------------------------------------------------------------

class Subscriber {
public:
    virtual ~Subscriber() = default;
    virtual void start() = 0;
    virtual void stop() = 0;
    // Publishes `data` to `channel` in-band (WebSocket subscribers; false elsewhere, or
    // when the frame could not be sent).
    virtual bool publish(const std::string& /*channel*/, const std::string& /*data*/) { return false; }
    // Called with each message index the subscriber receives (after the tally counts it).
    std::function<void(std::int64_t)> onMessage;
};

// What every subscriber kind shares: its ordering check, and counting itself
// established or failed, once each.
class SubscriberBase : public Subscriber {
protected:
    SubscriberBase(Mode mode, Tally& tally) : mode_(mode), tally_(tally) {}
    void establish() {
        if (established_) return;
        established_ = true;
        ++tally_.established;
    }
    void fail(const std::string& why) {
        if (stopped_) return;
        stopped_ = true;
        ++tally_.failed;
        if (tally_.firstError.empty()) tally_.firstError = std::string(modeName(mode_)) + " subscriber: " + why;
    }

    Mode mode_;
    Tally& tally_;
    Sequence sequence_;
    bool established_ = false;
    bool stopped_ = false;
};

class Receiver;  // reads every subscriber socket (receiver.hpp)
std::shared_ptr<Subscriber> makeHttpSubscriber(asio::io_context& io, Receiver& receiver, const Config& config,
                                               const std::string& channel, Tally& tally);
std::shared_ptr<Subscriber> makeWsSubscriber(asio::io_context& io, Receiver& receiver, const Config& config,
                                             const std::string& channel, Tally& tally);

// Publisher -------------------------------------------------------------------------

// Publishes over one keep-alive HTTP connection, one request at a time.
class Publisher {
public:
    Publisher(asio::io_context& io, const Config& config);
    ~Publisher();
    // Sends messages first .. first+count-1 to `channel` at config.rate; `done` when all
    // are answered.
    void run(const std::string& channel, std::int64_t first, int count, std::function<void()> done);
    std::vector<std::uint32_t>& latencyUs();
    int errors() const;
    // Publishes per second of the last run (first to last send).
    double achievedRate() const;

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

// Runs the loop until `done()` or `timeout`; checks every 5 ms.
bool runUntil(asio::io_context& io, const std::function<bool()>& done, std::chrono::milliseconds timeout);

// Sends `request` over a TCP connection of its own and reads until the peer closes: the
// bytes it answered (empty: no connection).
std::string exchange(const std::string& host, int port, const std::string& request);

// A request over a connection of its own (with Authorization: ApiKey when config.apiKey is
// set), read to the end: its status (0: no answer) and body (not de-chunked).
struct HttpAnswer {
    int status = 0;
    std::string body;
};
HttpAnswer httpRequest(const Config& config, const std::string& method, const std::string& path,
                       const std::string& body);
HttpAnswer httpPost(const Config& config, const std::string& path, const std::string& body);
HttpAnswer httpGet(const Config& config, const std::string& path);

// The presence scenario (presence.cpp): prints its JSON line; the exit status as main's.
int presence(const Config& config, bool expectNoLoss);

// The chat scenario (chat.cpp): prints its JSON line; the exit status as main's.
int chat(const Config& config, bool expectNoLoss);

struct Percentiles {
    double p50 = 0, p99 = 0, max = 0;
};
Percentiles percentiles(std::vector<std::uint32_t> values);

}  // namespace pushwire::bench
