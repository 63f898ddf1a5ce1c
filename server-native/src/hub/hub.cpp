#include "hub/hub.hpp"

#include <algorithm>
#include <chrono>
#include <random>

#include "pushwire/protocol/channel_name.hpp"

namespace pushwire::server {

using protocol::Error;
using protocol::ErrorCode;
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

Hub::Hub(Options options)
    : historySize_(std::max<std::size_t>(1, options.historySize)),
      epoch_(options.epoch.empty() ? randomEpoch() : std::move(options.epoch)),
      clock_(std::move(options.clock)) {}

std::int64_t Hub::now() const {
    if (clock_) return clock_();
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

Hub::Channel& Hub::channel(std::string_view name) {
    auto it = channels_.find(name);
    if (it == channels_.end()) it = channels_.emplace(std::string(name), Channel{}).first;
    return it->second;
}

const Hub::Channel* Hub::find(std::string_view name) const {
    auto it = channels_.find(name);
    return it == channels_.end() ? nullptr : &it->second;
}

protocol::Result<MessagePtr> Hub::publish(std::string_view name, std::string dataJson) {
    if (auto problem = protocol::channelNameProblem(name)) {
        return Error{ErrorCode::BadChannel, *problem};
    }
    Channel& ch = channel(name);
    auto message = std::make_shared<Message>();
    message->channel = std::string(name);
    message->seq = ++ch.lastSeq;
    message->timeMs = now();
    message->envelope = protocol::encodeEnvelope(
        protocol::Envelope{message->channel, message->seq, std::move(dataJson), message->timeMs});
    MessagePtr shared = message;
    ch.history.push_back(shared);
    if (ch.history.size() > historySize_) ch.history.pop_front();
    ++published_;

    // Index-based: a subscriber may unsubscribe (leaving a hole) while we iterate, and
    // subscribers added during the loop start after this message anyway.
    ++ch.fanningOut;
    const std::size_t count = ch.subscribers.size();
    for (std::size_t i = 0; i < count; ++i) {
        if (Subscriber* subscriber = ch.subscribers[i]) subscriber->deliver(shared);
    }
    if (--ch.fanningOut == 0 && ch.hasHoles) {
        ch.subscribers.erase(std::remove(ch.subscribers.begin(), ch.subscribers.end(), nullptr), ch.subscribers.end());
        ch.hasHoles = false;
    }
    return shared;
}

protocol::Result<std::vector<StartPoint>> Hub::resolve(const std::vector<std::string>& channels,
                                                       const protocol::Cursor* cursor) const {
    std::vector<std::optional<protocol::StreamPosition>> positions(channels.size());
    if (cursor) {
        auto found = protocol::positionsFor(*cursor, channels);
        if (!found) return found.error();
        positions = std::move(found.value());
    }
    std::vector<StartPoint> points;
    points.reserve(channels.size());
    for (std::size_t i = 0; i < channels.size(); ++i) {
        const std::string& name = channels[i];
        StartPoint point{name, head(name), epoch_, std::nullopt};
        const auto& position = positions[i];
        if (position && !position->epoch.empty() && position->epoch != epoch_) {
            // The client's seqs number another life of the stream: everything this life
            // holds is new to it, and what it missed from the old one is unknown.
            point.after = 0;
            if (position->seq > 0) {
                // Saturating: a cursor may carry the largest seq there is.
                const std::uint64_t from = position->seq == UINT64_MAX ? position->seq : position->seq + 1;
                point.epochGap = Gap{name, from, std::nullopt, GapReason::EpochChanged, epoch_};
            }
        } else if (position) {
            point.after = std::min(position->seq, point.after);
        }
        points.push_back(std::move(point));
    }
    return points;
}

Backlog Hub::readAfter(std::string_view name, std::uint64_t after, std::size_t limit, std::size_t maxBytes) const {
    Backlog backlog;
    const Channel* ch = find(name);
    if (ch == nullptr || ch->history.empty() || after >= ch->lastSeq) return backlog;
    const std::uint64_t firstHeld = ch->history.front()->seq;
    if (after + 1 < firstHeld) {
        backlog.gap = Gap{std::string(name), after + 1, firstHeld - 1, GapReason::HistoryEvicted, ""};
        after = firstHeld - 1;
    }
    // History is contiguous: the message after `after` sits at a known index.
    std::size_t index = static_cast<std::size_t>(after + 1 - firstHeld);
    std::size_t bytes = 0;
    for (; index < ch->history.size() && backlog.messages.size() < limit; ++index) {
        const MessagePtr& message = ch->history[index];
        if (!backlog.messages.empty() && bytes + message->envelope.size() > maxBytes) break;
        bytes += message->envelope.size();
        backlog.messages.push_back(message);
    }
    backlog.more = index < ch->history.size();
    return backlog;
}

std::uint64_t Hub::head(std::string_view name) const {
    const Channel* ch = find(name);
    return ch ? ch->lastSeq : 0;
}

void Hub::subscribe(std::string_view name, Subscriber* subscriber) { channel(name).subscribers.push_back(subscriber); }

void Hub::unsubscribe(std::string_view name, Subscriber* subscriber) {
    auto it = channels_.find(name);
    if (it == channels_.end()) return;
    Channel& ch = it->second;
    auto pos = std::find(ch.subscribers.begin(), ch.subscribers.end(), subscriber);
    if (pos == ch.subscribers.end()) return;
    if (ch.fanningOut > 0) {
        *pos = nullptr;
        ch.hasHoles = true;
    } else {
        *pos = ch.subscribers.back();
        ch.subscribers.pop_back();
    }
}

}  // namespace pushwire::server
