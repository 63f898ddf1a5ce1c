// Fuzz target: the WebSocket frame reader (pushwire's header check in front of
// websocketpp's processor), fed fragmented sequences split at points the input chooses.
// Properties: no message or control frame longer than the limits comes out; after a
// failure nothing more does; nothing crashes or grows (ASan catches an oversized
// allocation such as the one a wrapped length would ask for).
//
// Input: byte 0 picks the chunk sizes; the rest is what a client sends (its frames may be
// unmasked, which the reader must refuse as well).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "front/frame_reader.hpp"

using pushwire::server::FrameReader;

namespace {
void require(bool holds) {
    if (!holds) std::abort();
}
constexpr std::size_t kMax = 300;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    unsigned seed = data[0];
    const char* bytes = reinterpret_cast<const char*>(data + 1);
    std::size_t left = size - 1;
    FrameReader reader(kMax);
    bool failed = false;
    while (left > 0) {
        seed = seed * 1103515245u + 12345u;
        const std::size_t step = std::min<std::size_t>(left, 1 + (seed >> 16) % 17);
        auto failure = reader.read(bytes, step, [&](FrameReader::Frame& frame) {
            require(!failed);
            using Kind = FrameReader::Frame::Kind;
            if (frame.kind == Kind::Text || frame.kind == Kind::Binary) require(frame.payload.size() <= kMax);
            if (frame.kind == Kind::Ping || frame.kind == Kind::Pong) require(frame.payload.size() <= 125);
            if (frame.kind == Kind::Close) require(frame.closeCode >= 1000 && frame.closeCode < 5000);
            return true;
        });
        if (failure) {
            require(failure->closeCode == 1002 || failure->closeCode == 1007 || failure->closeCode == 1009);
            failed = true;
        }
        bytes += step;
        left -= step;
    }
    return 0;
}
