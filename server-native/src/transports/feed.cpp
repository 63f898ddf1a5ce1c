#include "transports/feed.hpp"

#include <algorithm>

namespace pushwire::server {

using protocol::Gap;
using protocol::GapReason;

namespace {
// One replay step: at most this much of one channel's history before the sink is asked
// again whether it has room.
constexpr std::size_t kPageMessages = 256;
constexpr std::size_t kPageBytes = 64 * 1024;
}  // namespace

protocol::Result<std::vector<FeedStart>> feedStarts(const std::vector<std::string>& channels,
                                                    const protocol::Cursor* cursor) {
    std::vector<std::optional<protocol::StreamPosition>> positions(channels.size());
    if (cursor) {
        auto found = protocol::positionsFor(*cursor, channels);
        if (!found) return found.error();
        positions = std::move(found.value());
    }
    std::vector<FeedStart> starts;
    starts.reserve(channels.size());
    for (std::size_t i = 0; i < channels.size(); ++i) starts.push_back(FeedStart{channels[i], std::move(positions[i])});
    return starts;
}

Feed::Feed(Context& context, FeedSink& sink) : context_(context), sink_(sink) {}

Feed::~Feed() { stop(); }

void Feed::stop() {
    if (stopped_) return;
    stopped_ = true;
    *alive_ = false;
    for (const Entry& entry : entries_) {
        context_.hub.leave(entry.channel, this);
        releaseMembership(entry, linger_);
    }
}

void Feed::holdMembership(Entry& entry) {
    if (!member_ || !context_.presence || !context_.presence->tracks(entry.channel)) return;
    entry.member = context_.presence->hold(entry.channel, *member_);  // false: past --max-presence-members
}

void Feed::releaseMembership(const Entry& entry, std::chrono::milliseconds linger) {
    if (!entry.member || !context_.presence) return;
    context_.presence->release(entry.channel, member_->client, linger);
}

std::size_t Feed::indexOf(std::string_view channel) const {
    if (entries_.size() == 1) return entries_[0].channel == channel ? 0 : kNone;
    auto it = std::lower_bound(sorted_.begin(), sorted_.end(), channel,
                               [](const auto& entry, std::string_view name) { return entry.first < name; });
    return it != sorted_.end() && it->first == channel ? it->second : kNone;
}

void Feed::reindex() {
    sorted_.clear();
    if (entries_.size() < 2) return;
    sorted_.reserve(entries_.size());
    for (std::size_t i = 0; i < entries_.size(); ++i) sorted_.emplace_back(entries_[i].channel, i);
    std::sort(sorted_.begin(), sorted_.end());
}

void Feed::setState(Entry& entry, State state) {
    if (entry.state == state) return;
    if (entry.state == State::Waiting) --waiting_;
    if (entry.state == State::Replaying) --replaying_;
    if (state == State::Waiting) ++waiting_;
    if (state == State::Replaying) ++replaying_;
    entry.state = state;
    if (state != State::Live) reportedCaughtUp_ = false;
}

int Feed::add(std::vector<FeedStart> starts) {
    const int batch = nextBatch_++;
    if (stopped_) return batch;
    std::vector<std::string> again;
    std::vector<std::string> stillMember;  // of those, the ones whose membership carries on
    for (const FeedStart& start : starts) {
        const std::size_t index = indexOf(start.channel);
        if (index == kNone) continue;
        again.push_back(start.channel);
        if (entries_[index].member) stillMember.push_back(start.channel);
    }
    removeChannels(again, true);  // a channel subscribed again starts over from its new start
    const std::size_t first = entries_.size();
    // A poll's feed gets all its channels at once: one allocation. A WebSocket's gets them a
    // frame at a time, and an exact reserve on each would regrow the vector on every add.
    if (entries_.empty()) entries_.reserve(starts.size());
    for (FeedStart& start : starts) {
        Entry entry;
        entry.channel = std::move(start.channel);
        entry.from = std::move(start.from);
        entry.batch = batch;
        entry.generation = nextGeneration_++;
        entries_.push_back(std::move(entry));
        ++waiting_;
    }
    pendingBatches_.push_back(batch);
    // Joining calls nothing back into the feed (the hub does not notify a joiner): the
    // entries may be worked on in place.
    std::vector<std::pair<std::string, protocol::Error>> refused;
    for (std::size_t i = first; i < entries_.size();) {
        const bool wasMember =
            std::find(stillMember.begin(), stillMember.end(), entries_[i].channel) != stillMember.end();
        if (auto problem = context_.hub.join(entries_[i].channel, this)) {
            if (wasMember) {
                entries_[i].member = true;
                releaseMembership(entries_[i], std::chrono::milliseconds(0));
            }
            refused.emplace_back(std::move(entries_[i].channel), std::move(*problem));
            entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(i));
            --waiting_;
            continue;
        }
        if (const auto head = context_.hub.head(entries_[i].channel)) resolve(entries_[i], *head);
        if (wasMember) {
            entries_[i].member = true;
        } else {
            holdMembership(entries_[i]);  // may deliver its own join to this feed: after resolve()
        }
        ++i;
    }
    reindex();
    for (const auto& [channel, problem] : refused) {
        if (stopped_) break;
        sink_.feedRefused(batch, channel, problem);
    }
    announceReady();
    pump();
    return batch;
}

void Feed::remove(const std::vector<std::string>& channels) { removeChannels(channels, false); }

void Feed::removeChannels(const std::vector<std::string>& channels, bool keepMembership) {
    bool removed = false;
    for (const std::string& channel : channels) {
        const std::size_t index = indexOf(channel);
        if (index == kNone) continue;
        setState(entries_[index], State::Live);  // out of the counts
        context_.hub.leave(channel, this);
        if (!keepMembership) releaseMembership(entries_[index], std::chrono::milliseconds(0));
        entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(index));
        reindex();
        removed = true;
    }
    if (removed) {
        announceReady();  // a batch may have been waiting only on removed channels
        checkCaughtUp();
    }
}

// The node follows the channel: pin "from now", or check the client's position against
// the stream's life.
void Feed::resolve(Entry& entry, const StreamHead& head) {
    if (entry.state != State::Waiting) return;
    if (!entry.from) {
        entry.after = head.seq;
        entry.epoch = head.epoch;
        setState(entry, State::Live);
        return;
    }
    const protocol::StreamPosition& from = *entry.from;
    if (!from.epoch.empty() && from.epoch != head.epoch) {
        // The client's seqs number another life of the stream: everything this life holds
        // is new to it, and what it missed of the old one is unknown. Saturating: a
        // cursor may carry the largest seq there is.
        const std::uint64_t gapFrom = from.seq == UINT64_MAX ? from.seq : from.seq + 1;
        entry.pendingGap = Gap{entry.channel, gapFrom, std::nullopt, GapReason::EpochChanged, head.epoch};
        entry.after = 0;
    } else {
        entry.after = std::min(from.seq, head.seq);  // a position ahead of the stream: its head
    }
    entry.epoch = head.epoch;
    entry.from.reset();
    setState(entry, entry.after < head.seq ? State::Replaying : State::Live);
}

// Tells the sink which batches have every position now, then writes their pending gaps.
void Feed::announceReady() {
    while (!pendingBatches_.empty() && !stopped_) {
        const int batch = pendingBatches_.front();
        bool ready = true;
        for (const Entry& entry : entries_) ready = ready && !(entry.batch == batch && entry.state == State::Waiting);
        if (!ready) return;
        pendingBatches_.erase(pendingBatches_.begin());
        sink_.feedReady(batch);
        for (std::size_t i = 0; i < entries_.size() && !stopped_; ++i) {
            if (entries_[i].batch != batch || !entries_[i].pendingGap) continue;
            Gap gap = std::move(*entries_[i].pendingGap);
            entries_[i].pendingGap.reset();
            ++context_.metrics.gaps;
            sink_.feedGap(gap);
        }
    }
}

void Feed::pump() {
    if (pumping_ || stopped_) return;
    pumping_ = true;
    while (!stopped_ && !readInFlight_ && replaying_ > 0) {
        if (!sink_.hasRoom()) {
            sink_.waitForRoom();
            break;
        }
        // The next replaying channel, round-robin, whose batch has been announced.
        Entry* next = nullptr;
        for (std::size_t n = 0; n < entries_.size() && !next; ++n) {
            Entry& entry = entries_[(nextRead_ + n) % entries_.size()];
            const bool announced =
                std::find(pendingBatches_.begin(), pendingBatches_.end(), entry.batch) == pendingBatches_.end();
            if (entry.state == State::Replaying && announced) {
                next = &entry;
                nextRead_ = (nextRead_ + n + 1) % entries_.size();
            }
        }
        if (!next) break;
        startRead(*next);
    }
    pumping_ = false;
    checkCaughtUp();
}

void Feed::startRead(Entry& entry) {
    readInFlight_ = true;
    HistoryQuery query{entry.channel, entry.after, entry.epoch, kPageMessages, kPageBytes};
    auto alive = alive_;
    const std::string channel = entry.channel;
    const std::uint64_t generation = entry.generation;
    context_.hub.read(query, [this, alive, channel, generation](protocol::Result<HistoryPage> result) {
        if (!*alive) return;
        const bool async = !pumping_;
        onPage(channel, generation, std::move(result));
        if (async) pump();  // an answer that came later: go on from here
    });
}

void Feed::onPage(const std::string& channel, std::uint64_t generation, protocol::Result<HistoryPage> result) {
    readInFlight_ = false;
    if (stopped_) return;
    if (!result) {
        sink_.feedFailed(result.error());
        stop();
        return;
    }
    const std::size_t index = indexOf(channel);
    if (index == kNone || entries_[index].generation != generation) return;  // unsubscribed meanwhile
    HistoryPage& page = *result;
    Entry* entry = &entries_[index];
    if (entry->state != State::Replaying) return;
    if (page.epochChanged) {
        restartLife(*entry, page.head.epoch);
        return;
    }
    if (page.gap) {
        entry->after = *page.gap->to;
        ++context_.metrics.gaps;
        sink_.feedGap(*page.gap);
        if (stopped_) return;
    }
    bool first = true;
    for (const MessagePtr& message : page.messages) {
        entry = &entries_[index];
        if (message->seq <= entry->after) continue;
        // A sink that filled up stops the page here; the rest is read again when there
        // is room (one message always goes, so a replay always moves).
        if (!first && !sink_.hasRoom()) return;
        first = false;
        entry->after = message->seq;
        sink_.feedMessage(message);
        if (stopped_ || indexOf(channel) != index) return;
    }
    entry = &entries_[index];
    // Live once the replay reached what this node has delivered; a replay that read past
    // it goes live too, and the node's copies of what it read are skipped by seq.
    const auto head = context_.hub.head(channel);
    if (!page.more && head && head->epoch == entry->epoch && entry->after >= head->seq) setState(*entry, State::Live);
}

// The stream began a new life: the client hears of it once, then gets the new life from
// its start.
void Feed::restartLife(Entry& entry, const std::string& epoch) {
    const std::uint64_t gapFrom = entry.after == UINT64_MAX ? entry.after : entry.after + 1;
    Gap gap{entry.channel, gapFrom, std::nullopt, GapReason::EpochChanged, epoch};
    entry.after = 0;
    entry.epoch = epoch;
    setState(entry, State::Replaying);
    ++context_.metrics.gaps;
    sink_.feedGap(gap);
}

void Feed::onFollow(const std::string& channel, const StreamHead& head) {
    if (stopped_) return;
    const std::size_t index = indexOf(channel);
    if (index == kNone) return;
    Entry& entry = entries_[index];
    if (entry.state == State::Waiting) {
        resolve(entry, head);
        announceReady();
    } else if (head.epoch != entry.epoch) {
        restartLife(entry, head.epoch);
    } else if (head.seq > entry.after) {
        setState(entry, State::Replaying);  // the node lost track: replay what it missed
    }
    pump();
}

void Feed::onMessage(const MessagePtr& message) {
    if (stopped_) return;
    const std::size_t index = indexOf(message->channel);
    if (index == kNone) return;
    Entry& entry = entries_[index];
    if (entry.state != State::Live || message->epoch != entry.epoch || message->seq <= entry.after) return;
    if (message->seq != entry.after + 1) {
        setState(entry, State::Replaying);  // a hole: the replay fills it
        pump();
        return;
    }
    entry.after = message->seq;
    sink_.feedMessage(message);
    if (!stopped_ && sink_.overfull()) fallBehind();
}

// The reader fell behind live delivery: stop taking live messages and replay from the
// positions reached, at the reader's pace, until at the head again.
void Feed::fallBehind() {
    for (Entry& entry : entries_) {
        if (entry.state == State::Live) setState(entry, State::Replaying);
    }
    sink_.waitForRoom();
}

void Feed::checkCaughtUp() {
    if (stopped_ || !caughtUp() || readInFlight_ || reportedCaughtUp_ || !pendingBatches_.empty()) return;
    reportedCaughtUp_ = true;
    sink_.feedCaughtUp();
}

std::string Feed::cursor() const {
    std::vector<protocol::ChannelPosition> positions;
    positions.reserve(entries_.size());
    for (const Entry& entry : entries_) positions.push_back({entry.channel, entry.after, entry.epoch});
    return protocol::encodeCursor(positions, byPlace_);
}

std::string Feed::cursorOf(const std::vector<std::string>& channels) const {
    std::vector<protocol::ChannelPosition> positions;
    positions.reserve(channels.size());
    for (const std::string& channel : channels) {
        const std::size_t index = indexOf(channel);
        if (index != kNone) positions.push_back({channel, entries_[index].after, entries_[index].epoch});
    }
    return protocol::encodeCursor(positions);
}

}  // namespace pushwire::server
