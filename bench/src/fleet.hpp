// Subscribers of one channel, started with a bound on connections being opened at once,
// spread over the nodes of --subscribe-node (fanout, idle and presence scenarios).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "bench.hpp"
#include "receiver.hpp"

namespace pushwire::bench {

struct Fleet {
    explicit Fleet(asio::io_context& io) : receiver(io) {}

    Receiver receiver;
    std::vector<std::shared_ptr<Subscriber>> members;
    std::vector<std::unique_ptr<Config>> nodes;  // one config per node; subscribers keep a reference

    // Starts `count` subscribers, at most `concurrency` connecting at once; returns the
    // seconds until all are established (or failed).
    double connect(asio::io_context& io, const Config& config, const std::string& channel, int count, Tally& tally) {
        const auto begin = Clock::now();
        if (nodes.empty()) {
            for (const auto& [port, wsPort] : config.subscribeNodes) {
                nodes.push_back(std::make_unique<Config>(config));
                nodes.back()->port = port;
                nodes.back()->wsPort = wsPort;
            }
        }
        int started = 0;
        auto settled = [&] { return static_cast<int>(tally.established + tally.failed); };
        while (started < count) {
            while (started < count && started - settled() < config.connectConcurrency) {
                const Config& node = nodes.empty() ? config : *nodes[static_cast<std::size_t>(started) % nodes.size()];
                auto s = config.mode == Mode::WebSocket ? makeWsSubscriber(io, receiver, node, channel, tally)
                                                        : makeHttpSubscriber(io, receiver, node, channel, tally);
                s->start();
                members.push_back(s);
                ++started;
            }
            io.run_for(std::chrono::milliseconds(2));
            if (io.stopped()) io.restart();
            if (Clock::now() - begin > std::chrono::seconds(120)) break;
        }
        runUntil(
            io, [&] { return settled() >= count; }, std::chrono::seconds(60));
        return std::chrono::duration<double>(Clock::now() - begin).count();
    }

    void stop(asio::io_context& io) {
        for (auto& s : members) s->stop();
        runUntil(
            io, [] { return false; }, std::chrono::milliseconds(200));
        members.clear();
    }
};

}  // namespace pushwire::bench
