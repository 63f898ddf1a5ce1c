// Fuzz target: the server's reading of an HTTP request's target, from raw bytes to what a
// poll would answer: splitTarget (percent-decoding, query pairs), readChannelRequest
// (channels, since, Last-Event-ID), feedStarts, and a Feed over a hub whose history is
// partly evicted, collecting into a small answer; the answer's cursor must read back to
// the positions the feed reached.
//
// Built as a libFuzzer target with clang (-DPUSHWIRE_FUZZ=ON), or, by default, with
// replay_main.cpp, which ctest runs over the seed corpus and mutations of it.
#include <asio/io_context.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "broker/memory_broker.hpp"
#include "front/http_request.hpp"
#include "hub/hub.hpp"
#include "transports/channel_request.hpp"
#include "transports/feed.hpp"

using namespace pushwire::server;

namespace {

struct World {
    asio::io_context io;
    MemoryBroker broker{{8, "0123456789abcdef"}};
    Hub hub{broker, {0, "0123456789abcdef", [] { return std::int64_t{1700000000000}; }}};
    Metrics metrics;
    AccessPolicy access{AccessOptions{}};
    RateLimiter publishRate{0, 1};
    SessionRegistry sessions;
    Context context{io, hub, metrics, Settings{}, access, publishRate, sessions, nullptr};
    World() {
        for (int i = 0; i < 12; ++i) hub.publish("chat", "{\"i\":" + std::to_string(i) + "}", [](auto) {});
        for (int i = 0; i < 3; ++i) hub.publish("news", "\"n\"", [](auto) {});
    }
};

World& world() {
    static World* instance = new World();
    return *instance;
}

void require(bool holds) {
    if (!holds) std::abort();
}

// Collects at most five messages and 200 bytes, like a small poll answer.
struct Collector final : FeedSink {
    std::size_t messages = 0;
    std::size_t bytes = 0;
    bool hasRoom() const override { return messages < 5 && bytes < 200; }
    bool overfull() const override { return !hasRoom(); }
    void waitForRoom() override {}
    void feedRefused(int, const std::string&, const pushwire::protocol::Error&) override {}
    void feedReady(int) override {}
    void feedGap(const pushwire::protocol::Gap& gap) override { require(gap.to ? gap.from <= *gap.to : true); }
    void feedMessage(const MessagePtr& message) override {
        ++messages;
        bytes += message->envelope.size();
    }
    void feedFailed(const pushwire::protocol::Error&) override { std::abort(); }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const bool lastEventId = (data[0] & 1) != 0;
    HttpRequest request;
    request.method = "GET";
    request.target.assign(reinterpret_cast<const char*>(data) + 1, size - 1);
    if (const auto newline = request.target.find('\n'); newline != std::string::npos) {
        request.headers.emplace_back("Last-Event-ID", request.target.substr(newline + 1));
        request.target.resize(newline);
    }
    if (!splitTarget(request.target, request.path, request.query)) return 0;
    World& w = world();
    auto channelRequest = readChannelRequest(request, w.context.settings, lastEventId);
    if (!channelRequest) return 0;
    if (channelRequest->channels.size() > w.context.settings.maxChannelsPerRequest) std::abort();
    const pushwire::protocol::Cursor* cursor = channelRequest->cursor ? &*channelRequest->cursor : nullptr;
    auto starts = feedStarts(channelRequest->channels, cursor);
    if (!starts) return 0;
    require(starts->size() == channelRequest->channels.size());
    Collector collector;
    Feed feed(w.context, collector);
    feed.add(std::move(*starts));
    require(collector.messages <= 5);
    require(collector.messages < 2 || collector.bytes <= 200 + 100);
    // The cursor of an answer reads back to every channel of the request.
    auto again = pushwire::protocol::parseCursor(feed.cursor());
    require(again.ok());
    auto positions = pushwire::protocol::positionsFor(*again, channelRequest->channels);
    require(positions.ok());
    for (const auto& position : *positions) require(position.has_value());
    return 0;
}
