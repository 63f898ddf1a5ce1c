// Fuzz target: the server's reading of an HTTP request's target, from raw bytes to where
// a subscription starts: splitTarget (percent-decoding, query pairs), readChannelRequest
// (channels, since, Last-Event-ID) and Hub::resolve against a hub with history, some of it
// evicted, then the batch a poll would answer and the cursor it would carry.
//
// Built as a libFuzzer target with clang (-DPUSHWIRE_FUZZ=ON), or, by default, with
// replay_main.cpp, which ctest runs over the seed corpus and mutations of it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "front/http_request.hpp"
#include "hub/hub.hpp"
#include "transports/channel_request.hpp"

using namespace pushwire::server;

namespace {

Hub& hub() {
    static Hub* instance = [] {
        auto* h = new Hub(Hub::Options{8, "0123456789abcdef", [] { return std::int64_t{1700000000000}; }});
        for (int i = 0; i < 12; ++i) (void)h->publish("chat", "{\"i\":" + std::to_string(i) + "}");
        for (int i = 0; i < 3; ++i) (void)h->publish("news", "\"n\"");
        return h;
    }();
    return *instance;
}

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
    Settings settings;
    auto channelRequest = readChannelRequest(request, settings, lastEventId);
    if (!channelRequest) return 0;
    if (channelRequest->channels.size() > settings.maxChannelsPerRequest) std::abort();
    const pushwire::protocol::Cursor* cursor = channelRequest->cursor ? &*channelRequest->cursor : nullptr;
    auto resolved = hub().resolve(channelRequest->channels, cursor);
    if (!resolved) return 0;
    std::vector<StartPoint>& points = *resolved;
    if (points.size() != channelRequest->channels.size()) std::abort();
    Batch batch = collectBatch(hub(), points, 5, 200);
    if (batch.messages.size() > 5) std::abort();
    std::size_t bytes = 0;
    for (const MessagePtr& message : batch.messages) bytes += message->envelope.size();
    if (batch.messages.size() > 1 && bytes > 200) std::abort();
    std::string text = cursorText(points);
    // The cursor of an answer reads back to the same positions.
    auto again = pushwire::protocol::parseCursor(text);
    if (!again) std::abort();
    auto positions = pushwire::protocol::positionsFor(*again, channelRequest->channels);
    if (!positions) std::abort();
    for (std::size_t i = 0; i < points.size(); ++i) {
        if (!(*positions)[i] || (*positions)[i]->seq != points[i].after) std::abort();
    }
    (void)encodeBatch(batch, text);
    return 0;
}
