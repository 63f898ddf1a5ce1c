// A stand-in for libFuzzer's driver where the compiler has none (GCC): runs the target
// over every file of the seed corpus, then over deterministic mutations of them (byte
// flips, inserts, deletions, splices, and tokens of the formats), so ctest exercises the
// target on every build, under the sanitizers in ./build.sh test's ASan pass.
//
//   fuzz_<name> [--iterations N] [--seed S] CORPUS_DIR...
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

const char* const kTokens[] = {"{",
                               "}",
                               "[",
                               "]",
                               "\"",
                               ":",
                               ",",
                               "@",
                               "~",
                               "%",
                               "%2",
                               "%zz",
                               "+",
                               "&",
                               "=",
                               "?",
                               "\\u0000",
                               "\\ud800",
                               "null",
                               "true",
                               "-1",
                               "1e999",
                               "18446744073709551616",
                               "\xff",
                               "\xc3\x28",
                               "\n",
                               "channel=",
                               "since=",
                               "\"seq\":",
                               "\"data\":"};

std::string mutate(std::string input, const std::vector<std::string>& corpus, std::mt19937_64& random) {
    const int steps = 1 + static_cast<int>(random() % 4);
    for (int s = 0; s < steps; ++s) {
        const std::size_t at = input.empty() ? 0 : random() % (input.size() + 1);
        switch (random() % 6) {
            case 0:
                if (!input.empty()) input[at % input.size()] ^= static_cast<char>(1u << (random() % 8));
                break;
            case 1: input.insert(at, 1, static_cast<char>(random() % 256)); break;
            case 2:
                if (!input.empty()) input.erase(at % input.size(), 1 + random() % 8);
                break;
            case 3: {
                const std::string& other = corpus[random() % corpus.size()];
                const std::size_t from = other.empty() ? 0 : random() % other.size();
                input.insert(at, other.substr(from, random() % 32));
                break;
            }
            case 4: input.insert(at, kTokens[random() % std::size(kTokens)]); break;
            case 5:
                if (!input.empty()) input.resize(at);
                break;
        }
    }
    return input;
}

}  // namespace

int main(int argc, char** argv) {
    long iterations = 20000;
    unsigned long long seed = 1;
    std::vector<std::string> corpus;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--iterations" && i + 1 < argc) {
            iterations = std::atol(argv[++i]);
        } else if (arg == "--seed" && i + 1 < argc) {
            seed = std::strtoull(argv[++i], nullptr, 10);
        } else {
            for (const auto& entry : std::filesystem::directory_iterator(arg)) {
                std::ifstream file(entry.path(), std::ios::binary);
                corpus.emplace_back(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
            }
        }
    }
    if (corpus.empty()) {
        std::fprintf(stderr, "no seed corpus given\n");
        return 2;
    }
    for (const std::string& input : corpus) {
        LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(input.data()), input.size());
    }
    std::mt19937_64 random(seed);
    for (long i = 0; i < iterations; ++i) {
        const std::string input = mutate(corpus[random() % corpus.size()], corpus, random);
        LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(input.data()), input.size());
    }
    std::printf("%zu seeds and %ld mutations: no crash, no failed property\n", corpus.size(), iterations);
    return 0;
}
