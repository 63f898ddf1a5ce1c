// `pushwire history URL CHANNEL [--since POS] [--limit N]`: what the server holds of a
// channel, as `sub` prints it (a JSON line per message and gap), read page by page by
// GET /pushwire/poll (as the browser SDK's client.history), then the command ends.
#include <httplib.h>

#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>

#include "answer.hpp"
#include "cli.hpp"
#include "http_errors.hpp"

namespace pushwire::cli {

// One page of GET /pushwire/poll: the server's pages are bounded by its history; a larger
// answer is not a page.
constexpr std::size_t kMaxPageBytes = 64u << 20;

int historyCommand(const Args& args) {
    // ordered: messages and gaps keep the server's order of keys, as `sub` prints them.
    using json = nlohmann::ordered_json;
    if (args.positional.size() != 2) {
        complain("history needs a URL and one CHANNEL (see pushwire --help)");
        return kExitUsage;
    }
    const std::vector<std::string> urls = parseUrls(args.positional[0]);
    if (urls.size() != 1) {
        if (!urls.empty()) complain("history takes one URL");
        return kExitUsage;
    }
    long limit = -1;
    if (args.has("--limit")) {
        char* end = nullptr;
        limit = std::strtol(args.get("--limit").c_str(), &end, 10);
        if (!end || *end || limit < 0) {
            complain("--limit " + args.get("--limit") + ": give a number of messages, 0 or more");
            return kExitUsage;
        }
    }
    httplib::Client http = client::makeHttpClient(urls[0], args.get("--ca-file"));
    http.set_connection_timeout(std::chrono::seconds(5));
    http.set_read_timeout(std::chrono::seconds(30));  // and 60 s for a whole page
    httplib::Headers headers;
    const std::optional<std::string> tokenRead = readToken(args);
    if (!tokenRead) return kExitUsage;
    const std::string token = *tokenRead;
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    const std::string channel = args.positional[1];
    std::string cursor = args.get("--since", "0");
    long printed = 0;
    while (limit < 0 || printed < limit) {
        const std::string target = "/pushwire/poll?channel=" + httplib::detail::encode_query_param(channel) +
                                   "&since=" + httplib::detail::encode_query_param(cursor);
        const Answer answer = fetchAnswer(http, "GET", target, headers, "", kMaxPageBytes, std::chrono::seconds(60));
        if (!answer.status) {
            complain("no answer from " + urls[0] + " (" + answer.failure + ")");
            return kExitFailed;
        }
        const json body = json::parse(answer.body, nullptr, false);
        if (answer.status != 200) {
            complain(describeRefusal(answer.status, answer.body));
            return kExitFailed;
        }
        // The page's shape checked before it is read: a server answering otherwise is told, not trusted.
        const bool valid = body.is_object() && body.contains("messages") && body["messages"].is_array() &&
                           (!body.contains("gaps") || body["gaps"].is_array()) &&
                           (!body.contains("more") || body["more"].is_boolean()) &&
                           (!body.contains("cursor") || body["cursor"].is_string());
        if (!valid) {
            complain("the server's answer is not a page of history: " + printable(answer.body));
            return kExitFailed;
        }
        if (body.contains("gaps")) {
            for (const json& gap : body["gaps"]) std::cout << json{{"gap", gap}}.dump() << "\n";
        }
        for (const json& message : body["messages"]) {
            if (limit >= 0 && printed >= limit) break;
            std::cout << message.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
            ++printed;
        }
        std::cout.flush();
        if (!body.value("more", false) || !body.contains("cursor")) break;
        const std::string next = body["cursor"].get<std::string>();
        if (next == cursor) {
            complain("the server's next page is the same page again (cursor " + printable(next) + ")");
            return kExitFailed;
        }
        cursor = next;
    }
    return std::cout ? kExitOk : kExitFailed;
}

}  // namespace pushwire::cli
