// `pushwire pub URL CHANNEL [DATA|-]`: POST /pushwire/publish, one message per argument or
// per line of stdin, each with an idempotency key of its own, sent again with the same key
// (so stored once) while the answer says it may not be stored (no answer, 503
// broker_unavailable, 504 publish_outcome_unknown, 429 after Retry-After). Prints each
// message's seq. A backend's one-shot publisher: it needs no event loop, so it is
// cpp-httplib's blocking client, not pushwire::Client.
#include <httplib.h>

#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "answer.hpp"
#include "cli.hpp"
#include "http_errors.hpp"

namespace pushwire::cli {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxAnswerBytes = 64 * 1024;  // {"seq":…} or an error: small
// One message's attempts end after kPatience (each one's whole request after
// kAttemptDeadline): a server trickling its answers, or asking to wait longer, is given up on.
constexpr std::chrono::seconds kAttemptDeadline{15};
constexpr std::chrono::seconds kPatience{30};
constexpr long long kMaxRetryAfterSeconds = 20;

std::string randomKey() {
    std::random_device device;
    std::string out;
    for (int i = 0; i < 32; ++i) out += "0123456789abcdef"[device() & 15];
    return out;
}

struct Publisher {
    httplib::Client http;
    httplib::Headers headers;
    std::string channel;

    // The seq, or nullopt after telling why on stderr.
    std::optional<std::uint64_t> publish(const json& data) {
        const std::string body = json{{"channel", channel}, {"data", data}, {"idempotency_key", randomKey()}}.dump();
        constexpr int kAttempts = 6;
        int delayMs = 200;
        using Clock = std::chrono::steady_clock;
        const Clock::time_point giveUp = Clock::now() + kPatience;
        for (int attempt = 1;; ++attempt) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(giveUp - Clock::now());
            const Answer answer = fetchAnswer(http, "POST", "/pushwire/publish", headers, body, kMaxAnswerBytes,
                                              std::min<std::chrono::milliseconds>(kAttemptDeadline, left));
            std::string why;
            bool again = false;
            if (!answer.status) {
                why = "no answer (" + answer.failure + ")";
                again = !isTlsRefusal(answer.failure);
            } else if (answer.status == 200) {
                json reply = json::parse(answer.body, nullptr, false);
                if (reply.is_object() && reply.contains("seq") && reply["seq"].is_number_unsigned()) {
                    return reply["seq"].get<std::uint64_t>();
                }
                complain("the server's answer has no seq: " + printable(answer.body));
                return std::nullopt;
            } else {
                why = describeRefusal(answer.status, answer.body);
                again = answer.status == 503 || answer.status == 504 || answer.status == 429;
                auto retryAfter = answer.headers.find("Retry-After");
                if (answer.status == 429 && retryAfter != answer.headers.end()) {
                    // Seconds (an HTTP date, or nonsense, counts as none); a wait longer than pub's
                    // own patience is the server saying "not now": told, not slept.
                    const long long seconds = std::strtoll(retryAfter->second.c_str(), nullptr, 10);
                    if (seconds > kMaxRetryAfterSeconds) {
                        complain("publish to " + channel + " failed: " + why + "; the server asks to wait " +
                                 std::to_string(seconds) + " s (Retry-After), more than pub waits (" +
                                 std::to_string(kMaxRetryAfterSeconds) + " s): try again later");
                        return std::nullopt;
                    }
                    if (seconds > 0) delayMs = std::max(delayMs, static_cast<int>(seconds) * 1000);
                }
            }
            if (!again || attempt == kAttempts || Clock::now() + std::chrono::milliseconds(delayMs) >= giveUp) {
                complain("publish to " + channel + " failed: " + why);
                return std::nullopt;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(delayMs));
            delayMs = std::min(delayMs * 2, 5000);
        }
    }
};

std::optional<json> parseData(const std::string& text) {
    json data = json::parse(text, nullptr, false);
    if (data.is_discarded()) {
        complain("the message is not JSON: " + text.substr(0, 80) +
                 " (a word is a JSON string only when quoted: '\"hi\"')");
        return std::nullopt;
    }
    return data;
}

}  // namespace

int pubCommand(const Args& args) {
    if (args.positional.size() < 2 || args.positional.size() > 3) {
        complain("pub needs a URL, a CHANNEL and DATA (or - for stdin) (see pushwire --help)");
        return kExitUsage;
    }
    const std::vector<std::string> urls = parseUrls(args.positional[0]);
    if (urls.empty()) return kExitUsage;
    if (urls.size() > 1) {
        complain("pub takes one URL");
        return kExitUsage;
    }
    Publisher publisher{client::makeHttpClient(urls[0], args.get("--ca-file")), {}, args.positional[1]};
    publisher.http.set_connection_timeout(std::chrono::seconds(5));
    publisher.http.set_read_timeout(std::chrono::seconds(10));  // and 15 s for a whole request
    if (args.has("--api-key-file")) {
        auto key = readSecretFile(args.get("--api-key-file"));
        if (!key) return kExitUsage;
        publisher.headers.emplace("Authorization", "ApiKey " + *key);
    } else if (args.has("--token") || args.has("--token-file")) {
        std::string token = args.get("--token");
        if (args.has("--token-file")) {
            auto read = readSecretFile(args.get("--token-file"));
            if (!read) return kExitUsage;
            token = *read;
        }
        publisher.headers.emplace("Authorization", "Bearer " + token);
    }

    if (args.positional.size() == 3 && args.positional[2] != "-") {
        auto data = parseData(args.positional[2]);
        if (!data) return kExitUsage;
        auto seq = publisher.publish(*data);
        if (!seq) return kExitFailed;
        std::cout << *seq << std::endl;
        return kExitOk;
    }
    // One message per line of stdin, in order (each waits for the previous one's seq);
    // empty lines skipped.
    std::string line;
    int status = kExitOk;
    while (std::getline(std::cin, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.find_first_not_of(" \t") == std::string::npos) continue;
        auto data = parseData(line);
        if (!data) {
            status = kExitFailed;
            continue;
        }
        auto seq = publisher.publish(*data);
        if (!seq) return kExitFailed;
        std::cout << *seq << std::endl;
    }
    return status;
}

}  // namespace pushwire::cli
