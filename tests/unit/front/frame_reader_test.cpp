#include "front/frame_reader.hpp"

#include <catch2/catch.hpp>

namespace frame_reader_test {

using pushwire::server::FrameReader;

namespace {

// A masked client frame; `length` overrides the declared length, `lengthBytes` forces its
// encoding (0: minimal).
std::string frame(int opcode, const std::string& payload, bool fin = true, int lengthBytes = 0,
                  std::optional<std::uint64_t> length = std::nullopt) {
    std::string out;
    out.push_back(static_cast<char>((fin ? 0x80 : 0) | opcode));
    const std::uint64_t declared = length.value_or(payload.size());
    if (lengthBytes == 0) lengthBytes = declared < 126 ? 0 : declared <= 0xffff ? 2 : 8;
    if (lengthBytes == 0) {
        out.push_back(static_cast<char>(0x80 | declared));
    } else if (lengthBytes == 2) {
        out.push_back(static_cast<char>(0x80 | 126));
        out.push_back(static_cast<char>(declared >> 8));
        out.push_back(static_cast<char>(declared & 0xff));
    } else {
        out.push_back(static_cast<char>(0x80 | 127));
        for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((declared >> shift) & 0xff));
    }
    out.append("\0\0\0\0", 4);  // a zero mask leaves the payload as it is
    return out + payload;
}

struct Reading {
    std::vector<FrameReader::Frame> frames;
    std::optional<FrameReader::Failure> failure;
};

// Feeds `bytes` `step` bytes at a time.
Reading read(FrameReader& reader, const std::string& bytes, std::size_t step) {
    Reading out;
    for (std::size_t at = 0; at < bytes.size() && !out.failure; at += step) {
        out.failure = reader.read(bytes.data() + at, std::min(step, bytes.size() - at), [&](FrameReader::Frame& f) {
            out.frames.push_back(f);
            return true;
        });
    }
    return out;
}

}  // namespace

TEST_CASE("fragmented text arrives as one message however the bytes are split") {
    const std::string bytes = frame(1, "hel", false) + frame(9, "p") + frame(0, "lo ", false) + frame(0, "wörld");
    for (std::size_t step : {1, 2, 3, 7, 1000}) {
        FrameReader reader(100);
        Reading got = read(reader, bytes, step);
        CHECK_FALSE(got.failure);
        REQUIRE(got.frames.size() == 2);
        CHECK(got.frames[0].kind == FrameReader::Frame::Kind::Ping);
        CHECK(got.frames[1].payload == "hello wörld");
    }
}

TEST_CASE("a message over the limit is refused at the header whatever the fragments and their sum") {
    const std::uint64_t max = 100;
    const std::vector<std::vector<std::uint64_t>> splits = {
        {101}, {100, 1}, {50, 50, 1}, {1, UINT64_MAX - 9}, {0, UINT64_MAX}, {UINT64_MAX >> 1}, {99, 0, 0, 2}};
    for (const auto& split : splits) {
        std::string bytes;
        for (std::size_t i = 0; i < split.size(); ++i) {
            const bool fits = split[i] <= max;
            std::string part =
                frame(i == 0 ? 2 : 0, fits ? std::string(split[i], 'x') : "", i + 1 == split.size(), 0, split[i]);
            bytes += part;
            if (!fits) break;
        }
        bytes += std::string(1000, 'y');  // what follows a refused header is never read
        FrameReader reader(max);
        Reading got = read(reader, bytes, 5);
        INFO("first fragment " << split[0] << " of " << split.size());
        REQUIRE(got.failure);
        CHECK(got.failure->closeCode == 1009);
        CHECK(got.frames.empty());
    }
}

TEST_CASE("non-minimal lengths and broken close frames are protocol errors") {
    auto failureOf = [](const std::string& bytes) {
        FrameReader reader(1 << 20);
        Reading got = read(reader, bytes, 3);
        return got.failure ? got.failure->closeCode : 0;
    };
    CHECK(failureOf(frame(1, "hi", true, 2)) == 1002);
    CHECK(failureOf(frame(1, std::string(200, 'a'), true, 8)) == 1002);
    CHECK(failureOf(frame(8, "\x03")) == 1002);
    CHECK(failureOf(frame(8, std::string("\x03\xe7", 2))) == 1002);  // 999
    CHECK(failureOf(frame(8, std::string("\x03\xe8\xff", 3))) == 1007);
    CHECK(failureOf(frame(1, "\xff")) == 1007);
    CHECK(failureOf(frame(9, std::string(126, 'p'))) == 1002);
    FrameReader reader(100);
    Reading close = read(reader, frame(8, std::string("\x0f\xa1", 2) + "bye"), 1);
    REQUIRE(close.frames.size() == 1);
    CHECK(close.frames[0].closeCode == 4001);
    CHECK(close.frames[0].closeText == "bye");
}

}  // namespace frame_reader_test
