// The embedded broker: seqs, history and fan-out in this process's memory, answered at
// once. One epoch for every stream, made at start: a restart is a new life of every
// channel. The default (--broker memory).
//
// Threading: the loop thread.
#pragma once

#include <deque>
#include <map>
#include <string>

#include "broker/broker.hpp"

namespace pushwire::server {

class MemoryBroker final : public Broker {
public:
    struct Options {
        std::size_t historySize = 1000;
        std::string epoch;  // empty: a random one
    };
    explicit MemoryBroker(Options options);

    void setHandler(BrokerEventHandler* handler) override { handler_ = handler; }
    void start() override {}
    void stop() override {}
    void publish(const std::string& channel, std::string dataJson, std::int64_t timeMs, PublishDone done) override;
    void history(const HistoryQuery& query, HistoryDone done) override;
    void follow(const std::string& channel) override;
    void unfollow(const std::string& channel) override;
    bool available() const override { return true; }
    std::string describe() const override { return "memory"; }
    std::string state() const override { return "ok"; }
    bool historyIsLocal() const override { return true; }

    const std::string& epoch() const { return epoch_; }
    std::size_t channelCount() const { return channels_.size(); }

private:
    struct Channel {
        std::uint64_t lastSeq = 0;
        std::deque<MessagePtr> history;
        bool followed = false;
    };

    std::size_t historySize_;
    std::string epoch_;
    BrokerEventHandler* handler_ = nullptr;
    std::map<std::string, Channel, std::less<>> channels_;
};

// A fresh random epoch: 16 lowercase hex digits.
std::string randomEpoch();

}  // namespace pushwire::server
