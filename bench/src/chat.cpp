// The chat scenario: the shape of direct messages and small rooms. --channels channels of
// --per-channel subscribers each (WebSocket, SSE or long-poll), and publishes spread over
// every channel: from --http-publishers keep-alive HTTP connections (pushwire: one JSON
// publish per request, or --batch publishes per NDJSON request), and from the chat clients
// themselves, in-band (--publish-from ws|both: one WebSocket subscriber of each of the
// channels given to WebSocket publishing sends, and reads back, what it publishes; Nchan's
// connect to its pubsub location). Each channel is published to by one source only, so
// every subscriber can check order, loss and repeats. --per-channel 0: publishes only,
// from HTTP (what holding many channels costs, without their deliveries).
//
// One message to every channel first (checked, not measured: connections and channels
// warm), then --messages publishes (--messages / --channels per channel, at least one),
// at --rate publishes a second over all sources, or as fast as accepted: every HTTP
// publisher keeps 16 requests in flight, every WebSocket publisher one message (the next
// when it reads its own back). Measured: the server's CPU per publish with its
// deliveries, publishes a second (the first publish to the last delivery), latency, RSS.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <websocketpp/common/memory.hpp>
#include <websocketpp/http/response.hpp>

#include "bench.hpp"
#include "receiver.hpp"

namespace pushwire::bench {
namespace {

using asio::ip::tcp;
using Response = websocketpp::http::parser::response;

bool complete(const Response& r) { return r.ready() || (r.headers_ready() && r.get_header("Content-Length") == "0"); }

// One keep-alive HTTP connection publishing to its channels in turn: message k goes to
// channels[k % n] with index first + k / n, so each channel's messages leave in order.
class HttpSource {
public:
    HttpSource(asio::io_context& io, const Config& config, std::vector<std::string> channels)
        : socket_(io), timer_(io), config_(config), channels_(std::move(channels)) {}

    std::size_t channelCount() const { return channels_.size(); }

    // `perChannel` messages to each channel from index `first`, at `rate` a second (0:
    // kWindow requests in flight).
    void run(std::int64_t first, int perChannel, double rate) {
        first_ = first;
        count_ = perChannel * static_cast<int>(channels_.size());
        rate_ = rate;
        sent_ = 0;
        requests_ = answered_ = 0;
        if (count_ == 0) return;
        auto begin = [this] {
            start_ = Clock::now();
            next();
        };
        if (connected_) return begin();
        tcp::endpoint endpoint(asio::ip::make_address(config_.host), static_cast<unsigned short>(config_.port));
        socket_.async_connect(endpoint, [this, begin](const std::error_code& ec) {
            if (ec) {
                ++errors_;
                return;
            }
            std::error_code ignored;
            socket_.set_option(tcp::no_delay(true), ignored);
            connected_ = true;
            begin();
        });
    }
    bool done() const { return sent_ >= count_ && answered_ >= requests_; }
    int answered() const { return answered_; }
    int errors() const { return errors_; }
    std::vector<std::uint32_t>& latencyUs() { return latency_; }

private:
    static constexpr int kWindow = 16;
    static constexpr int kPacedWindow = 1000;

    void next() {
        if (rate_ <= 0) {
            while (sent_ < count_ && requests_ - answered_ < kWindow) send();
            return;
        }
        if (sent_ >= count_ || requests_ - answered_ >= kPacedWindow || timerArmed_) return;
        timerArmed_ = true;
        timer_.expires_at(start_ + std::chrono::nanoseconds(static_cast<std::int64_t>(sent_ * 1e9 / rate_)));
        timer_.async_wait([this](const std::error_code& ec) {
            timerArmed_ = false;
            if (ec) return;
            send();
            next();
        });
    }

    // One request: one publish, or up to --batch as NDJSON lines (pushwire).
    void send() {
        const bool pushwire = config_.target == Target::Pushwire;
        const int lines = pushwire ? std::min(config_.batch, count_ - sent_) : 1;
        const std::size_t n = channels_.size();
        std::string target = "/pushwire/publish", body, type = "application/json";
        for (int line = 0; line < lines; ++line, ++sent_) {
            const std::string& channel = channels_[static_cast<std::size_t>(sent_) % n];
            const std::string data = payload(first_ + sent_ / static_cast<int>(n), config_.messageBytes);
            if (!pushwire) {
                target = "/pub/" + channel;
                body = data;
            } else if (config_.batch > 1) {
                type = "application/x-ndjson";
                body += "{\"channel\":\"" + channel + "\",\"data\":" + data + "}\n";
            } else {
                body = "{\"channel\":\"" + channel + "\",\"data\":" + data + "}";
            }
        }
        auto request = std::make_shared<std::string>(
            "POST " + target + " HTTP/1.1\r\nHost: " + config_.host +
            (config_.apiKey.empty() ? "" : "\r\nAuthorization: ApiKey " + config_.apiKey) +
            "\r\nContent-Type: " + type + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
        sentAt_.push_back(nowNs());
        ++requests_;
        asio::async_write(socket_, asio::buffer(*request), [this, request](const std::error_code& ec, std::size_t) {
            if (ec) ++errors_;
        });
        if (!reading_) read();
    }

    // Answers come back in request order. An NDJSON answer with an error line counts as
    // an error (a line refused).
    void read() {
        reading_ = true;
        socket_.async_read_some(asio::buffer(buffer_), [this](const std::error_code& ec, std::size_t n) {
            if (ec) {
                ++errors_;
                reading_ = false;
                return;
            }
            inbox_.append(buffer_.data(), n);
            while (!inbox_.empty() && answered_ < requests_) {
                if (!parser_) parser_ = std::make_unique<Response>();
                std::size_t used = 0;
                try {
                    used = parser_->consume(inbox_.data(), inbox_.size());
                } catch (const std::exception&) {
                    ++errors_;
                    reading_ = false;
                    return;
                }
                inbox_.erase(0, used);
                if (!complete(*parser_)) break;
                if (parser_->get_status_code() >= 300 || parser_->get_body().find("\"error\"") != std::string::npos)
                    ++errors_;
                latency_.push_back(
                    static_cast<std::uint32_t>((nowNs() - sentAt_[static_cast<std::size_t>(answered_)]) / 1000));
                ++answered_;
                parser_.reset();
            }
            reading_ = answered_ < requests_;
            if (reading_) read();
            next();
        });
    }

    tcp::socket socket_;
    asio::steady_timer timer_;
    const Config& config_;
    std::vector<std::string> channels_;
    std::string inbox_;
    std::array<char, 16384> buffer_{};
    std::unique_ptr<Response> parser_;
    std::vector<std::uint32_t> latency_;
    std::vector<std::int64_t> sentAt_;
    Clock::time_point start_;
    std::int64_t first_ = 0;
    double rate_ = 0;
    int count_ = 0, sent_ = 0, requests_ = 0, answered_ = 0, errors_ = 0;
    bool connected_ = false, reading_ = false, timerArmed_ = false;

public:
    // Between runs: the send times of the last one are answered and dropped.
    void reset() { sentAt_.clear(); }
};

}  // namespace

int chat(const Config& c, bool expectNoLoss) {
    asio::io_context io(1);
    Tally tally;
    Receiver receiver(io);
    const bool websocket = c.mode == Mode::WebSocket;
    const bool wsPublish = websocket && c.publishFrom != "http" && c.perChannel > 0;  // 0: no one to publish from
    const bool httpPublish = !wsPublish || c.publishFrom == "both";
    // Channel j: published by WebSocket when wsPublish and (all of them, or the odd ones).
    auto byWs = [&](int j) { return wsPublish && (!httpPublish || j % 2 == 1); };
    const std::string run = c.channel;
    auto name = [&](int j) { return run + "-" + std::to_string(j); };
    Config pubsub = c;
    pubsub.pubsub = c.target == Target::Nchan;

    // Subscribers, at most connectConcurrency connecting at once.
    std::vector<std::shared_ptr<Subscriber>> members;
    std::vector<Subscriber*> wsSources;  // in channel order among the WebSocket-published
    const int total = c.channels * c.perChannel;
    const auto connectBegin = Clock::now();
    const ProcSample empty = sample(c.serverPids);
    auto settled = [&] { return static_cast<int>(tally.established + tally.failed); };
    for (int j = 0, started = 0; j < c.channels; ++j) {
        for (int k = 0; k < c.perChannel; ++k, ++started) {
            const bool source = byWs(j) && k == 0;
            const Config& config = source ? pubsub : c;
            auto s = websocket ? makeWsSubscriber(io, receiver, config, name(j), tally)
                               : makeHttpSubscriber(io, receiver, config, name(j), tally);
            s->start();
            members.push_back(s);
            if (source) wsSources.push_back(s.get());
            while (started + 1 - settled() >= c.connectConcurrency &&
                   Clock::now() - connectBegin < std::chrono::seconds(120)) {
                io.run_for(std::chrono::milliseconds(2));
                if (io.stopped()) io.restart();
            }
        }
    }
    runUntil(
        io, [&] { return settled() >= total; }, std::chrono::seconds(120));
    const double connectSeconds = std::chrono::duration<double>(Clock::now() - connectBegin).count();
    runUntil(
        io, [] { return false; }, std::chrono::milliseconds(500));
    const ProcSample held = sample(c.serverPids);

    // Publishers: the HTTP-published channels dealt out over the HTTP connections.
    std::vector<std::unique_ptr<HttpSource>> http;
    if (httpPublish) {
        std::vector<std::vector<std::string>> lists(static_cast<std::size_t>(std::max(1, c.httpPublishers)));
        for (int j = 0, n = 0; j < c.channels; ++j) {
            if (!byWs(j)) lists[static_cast<std::size_t>(n++) % lists.size()].push_back(name(j));
        }
        for (auto& list : lists) {
            if (!list.empty()) http.push_back(std::make_unique<HttpSource>(io, c, std::move(list)));
        }
    }

    // The WebSocket sources: paced by one schedule over all of them, or each sending its
    // next message when it reads its last one back.
    std::vector<std::string> wsChannels;
    for (int j = 0; j < c.channels; ++j) {
        if (byWs(j)) wsChannels.push_back(name(j));
    }
    std::int64_t wsFirst = 0;
    int wsPerChannel = 0, wsSent = 0, wsErrors = 0;
    double wsRate = 0;
    Clock::time_point wsStart;
    asio::steady_timer wsTimer(io);
    const int wsCount = static_cast<int>(wsSources.size());
    auto publishWs = [&](std::size_t source, std::int64_t index) {
        if (!wsSources[source]->publish(wsChannels[source], payload(index, c.messageBytes))) ++wsErrors;
        ++wsSent;
    };
    std::function<void()> wsTick = [&] {
        const auto now = Clock::now();
        while (wsSent < wsPerChannel * wsCount &&
               wsStart + std::chrono::nanoseconds(static_cast<std::int64_t>(wsSent * 1e9 / wsRate)) <= now) {
            publishWs(static_cast<std::size_t>(wsSent % wsCount), wsFirst + wsSent / wsCount);
        }
        if (wsSent >= wsPerChannel * wsCount) return;
        wsTimer.expires_after(std::chrono::milliseconds(1));
        wsTimer.async_wait([&](const std::error_code& ec) {
            if (!ec) wsTick();
        });
    };
    for (std::size_t s = 0; s < wsSources.size(); ++s) {
        wsSources[s]->onMessage = [&, s](std::int64_t index) {
            // Its own message back: as fast as accepted, the next one leaves now.
            if (wsRate > 0 || index < wsFirst || index + 1 >= wsFirst + wsPerChannel) return;
            publishWs(s, index + 1);
        };
    }

    // One round: `perChannel` messages to every channel from index `first`, at `rate` a
    // second over all sources (0: as fast as accepted); runs until every subscriber has
    // them, or nothing arrives for 5 s. Returns the deliveries expected since the start.
    auto round = [&](std::int64_t first, int perChannel, double rate) {
        const std::uint64_t expected = tally.received + (static_cast<std::uint64_t>(total) - tally.failed) *
                                                            static_cast<std::uint64_t>(perChannel);
        for (auto& source : http) {
            source->reset();
            source->run(first, perChannel,
                        rate > 0 ? rate * static_cast<double>(source->channelCount()) / c.channels : 0);
        }
        wsFirst = first;
        wsPerChannel = perChannel;
        wsSent = 0;
        wsRate = rate > 0 ? rate * wsCount / c.channels : 0;
        if (wsCount > 0 && wsRate > 0) {
            wsStart = Clock::now();
            wsTick();
        } else {
            for (std::size_t s = 0; s < wsSources.size(); ++s) publishWs(s, first);
        }
        auto published = [&] {
            return wsSent >= perChannel * wsCount &&
                   std::all_of(http.begin(), http.end(), [](const auto& h) { return h->done(); });
        };
        // Progress: a delivery, or an answered publish (--per-channel 0 has no deliveries).
        auto progress = [&] {
            std::uint64_t n = tally.received;
            for (auto& source : http) n += static_cast<std::uint64_t>(source->answered());
            return n;
        };
        std::uint64_t last = progress();
        auto lastProgress = Clock::now();
        const auto publishTime = std::chrono::milliseconds(
            rate > 0 ? static_cast<std::int64_t>(static_cast<double>(perChannel) * c.channels * 1000 / rate) : 0);
        runUntil(
            io,
            [&] {
                if (progress() != last) {
                    last = progress();
                    lastProgress = Clock::now();
                }
                return (published() && tally.received >= expected) ||
                       Clock::now() - lastProgress > std::chrono::seconds(5);
            },
            publishTime + std::chrono::seconds(120));
        return expected;
    };

    // Warm-up: one message to every channel, checked, not measured.
    round(0, 1, 0);
    tally.latencyUs.clear();
    for (auto& source : http) source->latencyUs().clear();
    const int perChannel = std::max(1, c.messages / c.channels);
    tally.measureFrom = 1;
    const std::uint64_t receivedBefore = tally.received;
    std::vector<RedisSample> redisBefore;
    for (int port : c.redisNodes) redisBefore.push_back(redisSample(c.host, port));
    const ProcSample before = sample(c.serverPids);
    const double selfBefore = selfCpuSeconds();
    const auto begin = Clock::now();
    const std::uint64_t expected = round(1, perChannel, c.rate);
    // To the last delivery (a stalled run: to its last progress, 5 s before the end).
    const double seconds = std::chrono::duration<double>(Clock::now() - begin).count();
    const ProcSample after = sample(c.serverPids);
    const double selfCpu = selfCpuSeconds() - selfBefore;
    std::vector<RedisSample> redisAfter;
    for (int port : c.redisNodes) redisAfter.push_back(redisSample(c.host, port));
    std::vector<std::uint32_t> publishLatency;
    int errors = wsErrors;
    for (auto& source : http) {
        publishLatency.insert(publishLatency.end(), source->latencyUs().begin(), source->latencyUs().end());
        errors += source->errors();
    }
    const Percentiles latency = percentiles(tally.latencyUs);
    const Percentiles publish = percentiles(publishLatency);
    for (auto& s : members) s->stop();
    runUntil(
        io, [] { return false; }, std::chrono::milliseconds(200));

    const double publishes = static_cast<double>(perChannel) * c.channels;
    const double deliveries = static_cast<double>(tally.received - receivedBefore);
    const double serverCpu = after.cpuSeconds - before.cpuSeconds;
    const std::uint64_t lost = expected > tally.received ? expected - tally.received : 0;
    const double rssPerSubscriber = tally.established > 0 ? static_cast<double>(held.rssBytes - empty.rssBytes) /
                                                                static_cast<double>(tally.established)
                                                          : 0;
    const std::string from = wsPublish ? (httpPublish ? "both" : "ws") : "http";
    std::cout << "{\"scenario\":\"chat\",\"target\":\"" << targetName(c.target) << "\",\"transport\":\""
              << modeName(c.mode) << "\",\"channels\":" << c.channels << ",\"per_channel\":" << c.perChannel
              << ",\"subscribers\":" << total << ",\"publish_from\":\"" << from
              << "\",\"http_publishers\":" << http.size() << ",\"ws_publishers\":" << wsCount
              << ",\"batch\":" << (c.target == Target::Pushwire ? c.batch : 1) << ",\"rate\":" << c.rate
              << ",\"messages\":" << publishes << ",\"bytes\":" << c.messageBytes << ",\"expected\":" << expected
              << ",\"received\":" << tally.received << ",\"lost\":" << lost << ",\"duplicates\":" << tally.duplicates
              << ",\"failed_subscribers\":" << tally.failed << ",\"connect_s\":" << connectSeconds
              << ",\"server_rss_bytes\":" << held.rssBytes << ",\"server_rss_end_bytes\":" << after.rssBytes
              << ",\"rss_per_subscriber_bytes\":" << rssPerSubscriber << ",\"publishes_per_s\":" << publishes / seconds
              << ",\"deliveries_per_s\":" << deliveries / seconds
              << ",\"server_cpu_us_per_publish\":" << serverCpu * 1e6 / publishes
              << ",\"server_cpu_us_per_delivery\":" << (deliveries > 0 ? serverCpu * 1e6 / deliveries : 0)
              << ",\"bench_cpu_us_per_publish\":" << selfCpu * 1e6 / publishes
              << ",\"latency_ms\":{\"p50\":" << latency.p50 << ",\"p99\":" << latency.p99 << ",\"max\":" << latency.max
              << "},\"publish_ms\":{\"p50\":" << publish.p50 << ",\"p99\":" << publish.p99
              << "},\"publish_errors\":" << errors;
    // Each Redis node's CPU and bytes sent per measured publish, and their sums.
    if (!c.redisNodes.empty()) {
        double cpuSum = 0, bytesSum = 0;
        bool ok = true;
        std::cout << ",\"redis_nodes\":[";
        for (std::size_t i = 0; i < c.redisNodes.size(); ++i) {
            const double cpu = (redisAfter[i].cpuSeconds - redisBefore[i].cpuSeconds) * 1e6 / publishes;
            const double bytes = (redisAfter[i].outputBytes - redisBefore[i].outputBytes) / publishes;
            ok = ok && redisBefore[i].ok && redisAfter[i].ok;
            cpuSum += cpu;
            bytesSum += bytes;
            std::cout << (i ? "," : "") << "{\"port\":" << c.redisNodes[i] << ",\"cpu_us_per_publish\":" << cpu
                      << ",\"out_bytes_per_publish\":" << bytes << "}";
        }
        std::cout << "],\"redis_ok\":" << (ok ? "true" : "false") << ",\"redis_cpu_us_per_publish\":" << cpuSum
                  << ",\"redis_out_bytes_per_publish\":" << bytesSum;
    }
    std::cout << ",\"error\":\"";
    for (char ch : tally.firstError)
        std::cout << (ch == '"' || ch == '\\' || static_cast<unsigned char>(ch) < 0x20 ? ' ' : ch);
    std::cout << "\"}" << std::endl;
    std::fprintf(stderr,
                 "%s %s chat: %d channels x %d, %.0f publishes (%s%s): received %llu/%llu, dup %llu, "
                 "server %.2f us/publish, %.0f publishes/s, latency p50 %.2f p99 %.2f ms%s%s\n",
                 targetName(c.target), modeName(c.mode), c.channels, c.perChannel, publishes, from.c_str(),
                 c.batch > 1 && c.target == Target::Pushwire ? ", NDJSON batches" : "",
                 static_cast<unsigned long long>(tally.received), static_cast<unsigned long long>(expected),
                 static_cast<unsigned long long>(tally.duplicates), serverCpu * 1e6 / publishes, publishes / seconds,
                 latency.p50, latency.p99, tally.firstError.empty() ? "" : " | ", tally.firstError.c_str());
    const bool clean = lost == 0 && tally.duplicates == 0 && tally.failed == 0 && errors == 0;
    return expectNoLoss && !clean ? 1 : 0;
}

}  // namespace pushwire::bench
