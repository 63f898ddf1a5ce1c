// Fuzz target: every decoder of the wire format (protocol/), which reads what clients
// send the server and what the server sends clients. The first byte picks the decoder;
// decoded values must re-encode to text that decodes to the same value.
//
// Built as a libFuzzer target with clang (-DPUSHWIRE_FUZZ=ON), or, by default, with
// replay_main.cpp, which ctest runs over the seed corpus and mutations of it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "pushwire/protocol/channel_name.hpp"
#include "pushwire/protocol/cursor.hpp"
#include "pushwire/protocol/envelope.hpp"
#include "pushwire/protocol/frames.hpp"

using namespace pushwire::protocol;

namespace {

void require(bool holds) {
    if (!holds) std::abort();  // a property failed: the fuzzer reports the input
}

void cursorRoundTrip(std::string_view text) {
    auto cursor = parseCursor(text);
    if (!cursor) return;
    auto again = parseCursor(formatCursor(*cursor));
    require(again.ok());
    require(again->epoch == cursor->epoch && again->all == cursor->all && again->named.size() == cursor->named.size() &&
            again->byIndex.size() == cursor->byIndex.size());
    for (std::size_t i = 0; i < cursor->named.size(); ++i) {
        require(again->named[i].first == cursor->named[i].first);
        require(again->named[i].second.seq == cursor->named[i].second.seq);
        require(again->named[i].second.epoch == cursor->named[i].second.epoch ||
                cursor->named[i].second.epoch == cursor->epoch);
    }
}

void envelopeRoundTrip(std::string_view text) {
    auto envelope = decodeEnvelope(text);
    if (!envelope) return;
    auto again = decodeEnvelope(encodeEnvelope(*envelope));
    require(again.ok());
    require(again->channel == envelope->channel && again->seq == envelope->seq &&
            again->dataJson == envelope->dataJson && again->timeMs == envelope->timeMs);
}

void gapRoundTrip(std::string_view text) {
    auto gap = decodeGap(text);
    if (!gap) return;
    auto again = decodeGap(encodeGap(*gap));
    require(again.ok());
    require(again->channel == gap->channel && again->from == gap->from && again->to == gap->to &&
            again->reason == gap->reason);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (data[0] % 10) {
        case 0: cursorRoundTrip(text); break;
        case 1: envelopeRoundTrip(text); break;
        case 2: gapRoundTrip(text); break;
        case 3: (void)decodeClientFrame(text); break;
        case 4: (void)decodeServerFrame(text); break;
        case 5: (void)decodePollResponse(text); break;
        case 6: (void)decodePublishRequest(text); break;
        case 7: (void)decodePublishAck(text); break;
        case 8: (void)decodeNegotiate(text); break;
        case 9:
            (void)decodeErrorBody(text);
            require(isValidChannelName(text) == !channelNameProblem(text).has_value());
            break;
    }
    return 0;
}
