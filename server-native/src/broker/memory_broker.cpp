#include "broker/memory_broker.hpp"

#include <algorithm>
#include <chrono>
#include <random>

namespace pushwire::server {

using protocol::Gap;
using protocol::GapReason;

std::string randomEpoch() {
    std::random_device device;
    std::uint64_t bits = (static_cast<std::uint64_t>(device()) << 32) ^ device() ^
                         static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    static const char* kHex = "0123456789abcdef";
    std::string out(16, '0');
    for (int i = 15; i >= 0; --i, bits >>= 4) out[static_cast<std::size_t>(i)] = kHex[bits & 15];
    return out;
}

MemoryBroker::MemoryBroker(Options options)
    : historySize_(std::max<std::size_t>(1, options.historySize)),
      epoch_(options.epoch.empty() ? randomEpoch() : std::move(options.epoch)) {}

void MemoryBroker::publish(const std::string& name, std::string dataJson, std::int64_t timeMs, PublishDone done) {
    Channel& channel = channels_[name];
    auto message = std::make_shared<Message>();
    message->channel = name;
    message->seq = ++channel.lastSeq;
    message->epoch = epoch_;
    message->timeMs = timeMs;
    message->envelope =
        protocol::encodeEnvelope(protocol::Envelope{message->channel, message->seq, std::move(dataJson), timeMs});
    MessagePtr shared = std::move(message);
    channel.history.push_back(shared);
    if (channel.history.size() > historySize_) channel.history.pop_front();
    if (channel.followed && handler_) handler_->onPublication(shared);
    done(std::move(shared));
}

void MemoryBroker::history(const HistoryQuery& query, HistoryDone done) {
    HistoryPage page;
    page.head.epoch = epoch_;
    auto it = channels_.find(query.channel);
    const Channel* channel = it == channels_.end() ? nullptr : &it->second;
    page.head.seq = channel ? channel->lastSeq : 0;
    if (!query.epoch.empty() && query.epoch != epoch_) {
        page.epochChanged = true;
        done(std::move(page));
        return;
    }
    std::uint64_t after = std::min(query.after, page.head.seq);
    if (channel == nullptr || channel->history.empty() || after >= channel->lastSeq) {
        done(std::move(page));
        return;
    }
    const std::uint64_t firstHeld = channel->history.front()->seq;
    if (after + 1 < firstHeld) {
        page.gap = Gap{query.channel, after + 1, firstHeld - 1, GapReason::HistoryEvicted, ""};
        after = firstHeld - 1;
    }
    // History is contiguous: the message after `after` sits at a known index.
    std::size_t index = static_cast<std::size_t>(after + 1 - firstHeld);
    std::size_t bytes = 0;
    for (; index < channel->history.size() && page.messages.size() < query.limit; ++index) {
        const MessagePtr& message = channel->history[index];
        if (!page.messages.empty() && bytes + message->envelope.size() > query.maxBytes) break;
        bytes += message->envelope.size();
        page.messages.push_back(message);
    }
    page.more = index < channel->history.size();
    done(std::move(page));
}

void MemoryBroker::follow(const std::string& name) {
    Channel& channel = channels_[name];
    channel.followed = true;
    if (handler_) handler_->onFollow(name, StreamHead{epoch_, channel.lastSeq});
}

void MemoryBroker::unfollow(const std::string& name) {
    auto it = channels_.find(name);
    if (it != channels_.end()) it->second.followed = false;
}

}  // namespace pushwire::server
