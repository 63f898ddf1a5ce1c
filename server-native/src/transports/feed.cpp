#include "transports/feed.hpp"

#include <algorithm>

#include "pushwire/protocol/cursor.hpp"

namespace pushwire::server {

namespace {
// One replay step: at most this much of one channel's history before the sink is asked
// again whether it has room.
constexpr std::size_t kPageMessages = 256;
constexpr std::size_t kPageBytes = 64 * 1024;
}  // namespace

Feed::~Feed() { stop(); }

void Feed::stop() {
    if (stopped_) return;
    stopped_ = true;
    for (std::size_t i = 0; i < points_.size(); ++i) {
        if (live_[i]) context_.hub.unsubscribe(points_[i].channel, this);
    }
}

std::size_t Feed::indexOf(std::string_view channel) const {
    if (points_.size() == 1) return points_[0].channel == channel ? 0 : kNone;
    auto it = std::lower_bound(sorted_.begin(), sorted_.end(), channel,
                               [](const auto& entry, std::string_view name) { return entry.first < name; });
    return it != sorted_.end() && it->first == channel ? it->second : kNone;
}

void Feed::reindex() {
    sorted_.clear();
    sorted_.reserve(points_.size());
    for (std::size_t i = 0; i < points_.size(); ++i) sorted_.emplace_back(points_[i].channel, i);
    std::sort(sorted_.begin(), sorted_.end());
}

void Feed::add(std::vector<StartPoint> points) {
    if (stopped_) return;
    std::vector<protocol::Gap> gaps;
    for (StartPoint& point : points) {
        if (point.epochGap) gaps.push_back(std::move(*point.epochGap));
        point.epochGap.reset();
        points_.push_back(std::move(point));
        live_.push_back(false);
        ++catchingUp_;
    }
    reindex();
    context_.metrics.gaps += gaps.size();
    for (const protocol::Gap& gap : gaps) sink_.feedGap(gap);
    pump();
}

void Feed::remove(const std::vector<std::string>& channels) {
    for (const std::string& channel : channels) {
        const std::size_t index = indexOf(channel);
        if (index == kNone) continue;
        if (live_[index]) {
            context_.hub.unsubscribe(channel, this);
        } else {
            --catchingUp_;
        }
        points_.erase(points_.begin() + static_cast<std::ptrdiff_t>(index));
        live_.erase(live_.begin() + static_cast<std::ptrdiff_t>(index));
        reindex();
    }
}

void Feed::pump() {
    if (pumping_ || stopped_) return;
    pumping_ = true;
    while (catchingUp_ > 0 && !stopped_) {
        if (!sink_.hasRoom()) {
            sink_.waitForRoom();
            break;
        }
        for (std::size_t i = 0; i < points_.size() && !stopped_; ++i) {
            if (live_[i]) continue;
            Backlog backlog = context_.hub.readAfter(points_[i].channel, points_[i].after, kPageMessages, kPageBytes);
            if (backlog.gap) {
                points_[i].after = *backlog.gap->to;
                ++context_.metrics.gaps;
                sink_.feedGap(*backlog.gap);
            }
            for (const MessagePtr& message : backlog.messages) {
                if (stopped_) break;
                points_[i].after = message->seq;
                sink_.feedMessage(message);
            }
            if (!backlog.more && !stopped_) goLive(i);
            if (!sink_.hasRoom()) break;
        }
    }
    pumping_ = false;
}

void Feed::goLive(std::size_t index) {
    live_[index] = true;
    --catchingUp_;
    context_.hub.subscribe(points_[index].channel, this);
}

// The reader fell behind live delivery: stop taking live messages and replay from the
// positions reached, at the reader's pace, until at the head again.
void Feed::fallBehind() {
    for (std::size_t i = 0; i < points_.size(); ++i) {
        if (!live_[i]) continue;
        live_[i] = false;
        ++catchingUp_;
        context_.hub.unsubscribe(points_[i].channel, this);
    }
    sink_.waitForRoom();
}

void Feed::deliver(const MessagePtr& message) {
    if (stopped_) return;
    const std::size_t index = indexOf(message->channel);
    if (index == kNone || !live_[index]) return;
    StartPoint& point = points_[index];
    if (message->seq <= point.after) return;  // delivered while replaying
    point.after = message->seq;
    sink_.feedMessage(message);
    if (sink_.overfull()) fallBehind();
}

std::string Feed::cursor() const {
    std::vector<protocol::ChannelPosition> positions;
    positions.reserve(points_.size());
    for (const StartPoint& point : points_) positions.push_back({point.channel, point.after, point.epoch});
    return protocol::encodeCursor(positions);
}

}  // namespace pushwire::server
