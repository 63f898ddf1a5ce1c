// `pushwire history URL CHANNEL [--since POS] [--limit N]`: what the server holds of a
// channel, as `sub` prints it (a JSON line per message and gap), read page by page by
// GET /pushwire/poll (as the browser SDK's client.history), then the command ends.
#include <httplib.h>

#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli.hpp"
#include "http_errors.hpp"

namespace pushwire::cli {

int historyCommand(const Args& args) {
    using nlohmann::json;
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
    http.set_read_timeout(std::chrono::seconds(30));
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
        httplib::Result result = http.Get(target.c_str(), headers);
        if (!result) {
            complain("no answer from " + urls[0] + " (" + client::describeHttpError(result.error()) + ")");
            return kExitFailed;
        }
        json body = json::parse(result->body, nullptr, false);
        if (result->status != 200 || !body.is_object() || !body.contains("messages")) {
            const json error = body.is_object() && body.contains("error") ? body["error"] : json::object();
            complain("HTTP " + std::to_string(result->status) + " " + error.value("code", std::string()) + ": " +
                     error.value("message", result->body.substr(0, 200)));
            return kExitFailed;
        }
        for (const json& gap : body.value("gaps", json::array())) std::cout << json{{"gap", gap}}.dump() << "\n";
        for (const json& message : body["messages"]) {
            if (limit >= 0 && printed >= limit) break;
            std::cout << message.dump() << "\n";
            ++printed;
        }
        std::cout.flush();
        if (!body.value("more", false) || !body.contains("cursor")) break;
        cursor = body["cursor"].get<std::string>();
    }
    return std::cout ? kExitOk : kExitFailed;
}

}  // namespace pushwire::cli
