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

#include "cli.hpp"
#include "http_errors.hpp"

namespace pushwire::cli {
namespace {

using nlohmann::json;

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
        for (int attempt = 1;; ++attempt) {
            httplib::Result result = http.Post("/pushwire/publish", headers, body, "application/json");
            std::string why;
            bool again = false;
            if (!result) {
                why = "no answer (" + client::describeHttpError(result.error()) + ")";
                again = !client::isTlsVerificationError(result.error());
            } else if (result->status == 200) {
                json answer = json::parse(result->body, nullptr, false);
                if (answer.is_object() && answer.contains("seq") && answer["seq"].is_number_unsigned()) {
                    return answer["seq"].get<std::uint64_t>();
                }
                complain("the server's answer has no seq: " + result->body.substr(0, 200));
                return std::nullopt;
            } else {
                json error = json::parse(result->body, nullptr, false);
                const std::string code = error.is_object() && error.contains("error") && error["error"].is_object()
                                             ? error["error"].value("code", "")
                                             : "";
                const std::string message = error.is_object() && error.contains("error") && error["error"].is_object()
                                                ? error["error"].value("message", "")
                                                : result->body.substr(0, 200);
                why = "HTTP " + std::to_string(result->status) + (code.empty() ? "" : " " + code) + ": " + message;
                again = result->status == 503 || result->status == 504 || result->status == 429;
                if (result->status == 429 && result->has_header("Retry-After")) {
                    delayMs = std::max(delayMs, 1000 * std::atoi(result->get_header_value("Retry-After").c_str()));
                }
            }
            if (!again || attempt == kAttempts) {
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
    publisher.http.set_read_timeout(std::chrono::seconds(10));
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
