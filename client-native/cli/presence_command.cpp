// `pushwire presence URL CHANNEL [--stats] [--follow]`: who is in a presence channel (the
// server's --presence). Without --follow: the members now, one JSON line each, read by
// GET /pushwire/presence (the command is no member: it does not subscribe), then it ends.
// With --follow: that read first (so a channel without presence, or refused, is an error
// at once), then a pushwire::Client subscribes with onJoin/onLeave, whose exact member set
// (docs/sdk.md) prints the members as joins and then every change as it comes, across
// reconnects, until interrupted or its reader goes away. The command's own membership
// (its subscription) is not printed.
#include <httplib.h>

#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "answer.hpp"
#include "cli.hpp"
#include "follow_session.hpp"
#include "http_errors.hpp"
#include "pushwire/client.hpp"

namespace pushwire::cli {
namespace {

// ordered: lines keep the server's order of keys, and "event" first.
using json = nlohmann::ordered_json;

constexpr std::size_t kMaxAnswerBytes = 64u << 20;  // members up to the server's --max-presence-members

// GET /pushwire/presence: the answer's JSON, or nullopt after telling why on stderr.
std::optional<json> readPresence(const std::string& url, const std::string& channel, bool stats,
                                 const std::string& token, const std::string& caFile) {
    httplib::Client http = client::makeHttpClient(url, caFile);
    http.set_connection_timeout(std::chrono::seconds(5));
    http.set_read_timeout(std::chrono::seconds(30));
    httplib::Headers headers;
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    const std::string target =
        "/pushwire/presence?channel=" + httplib::detail::encode_query_param(channel) + (stats ? "&stats=1" : "");
    const Answer answer = fetchAnswer(http, "GET", target, headers, "", kMaxAnswerBytes, std::chrono::seconds(60));
    if (!answer.status) {
        complain("no answer from " + url + " (" + answer.failure + ")");
        return std::nullopt;
    }
    if (answer.status != 200) {
        complain(describeRefusal(answer.status, answer.body));
        return std::nullopt;
    }
    json body = json::parse(answer.body, nullptr, false);
    // Its shape checked before it is read (a server answering otherwise is told, not trusted).
    const bool valid = body.is_object() && (!body.contains("members") || body["members"].is_array()) &&
                       (!body.contains("truncated") || body["truncated"].is_boolean()) &&
                       (!body.contains("clients") || body["clients"].is_number_unsigned()) &&
                       (!body.contains("users") || body["users"].is_number_unsigned());
    if (!valid) {
        complain("the server's answer is not a presence list: " + printable(answer.body));
        return std::nullopt;
    }
    return body;
}

json memberJson(const Member& member) {
    json info = json::parse(member.info, nullptr, false);
    return {{"client", member.client}, {"user", member.user}, {"info", info.is_discarded() ? json() : info}};
}

int follow(const Args& args, const std::vector<std::string>& urls, const std::string& channel,
           const std::string& token) {
    const std::optional<ClientOptions> options = clientOptions(args, token);
    if (!options) return kExitUsage;
    if (!readPresence(urls[0], channel, false, token, options->caFile)) return kExitFailed;

    FollowSession session(args, urls, *options);
    Client& client = session.client();
    auto print = [&](const char* event, const Member& member) {
        if (session.stopping() || member.client == client.id()) return;
        session.print(json{{"event", event}, {"channel", channel}, {"member", memberJson(member)}}.dump());
    };
    SubscribeOptions subscribe;
    subscribe.onJoin = [&](const Member& member) { print("join", member); };
    subscribe.onLeave = [&](const Member& member) { print("leave", member); };
    subscribe.onError = [&](const Error& error) {
        complain(channel + ": " + error.code + ": " + error.message);
        if (error.code != "bad_cursor") session.finish(kExitFailed);
    };
    // Its messages are not this command's business (`pushwire sub` prints them).
    Subscription subscription = client.subscribe(
        channel, [](const Message&) {}, std::move(subscribe));
    if (!subscription.active()) return kExitUsage;  // a bad channel name (told on stderr)

    return session.run();
}

}  // namespace

int presenceCommand(const Args& args) {
    if (args.positional.size() != 2) {
        complain("presence needs a URL and one CHANNEL (see pushwire --help)");
        return kExitUsage;
    }
    const std::vector<std::string> urls = parseUrls(args.positional[0]);
    if (urls.empty()) return kExitUsage;
    const bool following = args.has("--follow"), stats = args.has("--stats");
    if (following && stats) {
        complain("--stats and --follow do not go together: --stats reads the numbers once");
        return kExitUsage;
    }
    if (!following && urls.size() != 1) {
        complain("presence takes one URL (several only with --follow)");
        return kExitUsage;
    }
    if (!following && args.has("--transport")) {
        complain("--transport is for --follow (without it the members are read by one HTTP request)");
        return kExitUsage;
    }
    std::optional<std::string> token = readToken(args);
    if (!token) return kExitUsage;
    const std::string channel = args.positional[1];
    if (following) return follow(args, urls, channel, *token);

    std::optional<json> body = readPresence(urls[0], channel, stats, *token, args.get("--ca-file"));
    if (!body) return kExitFailed;
    if (stats) {
        std::cout << json{{"channel", channel},
                          {"clients", body->value("clients", std::uint64_t{0})},
                          {"users", body->value("users", std::uint64_t{0})}}
                  << "\n";
    } else {
        for (const json& member : body->value("members", json::array())) {
            std::cout << member.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
        }
        if (body->value("truncated", false)) {
            complain("the list stops at the server's --max-presence-members (--stats counts them all)");
        }
    }
    std::cout.flush();
    return std::cout ? kExitOk : kExitFailed;
}

}  // namespace pushwire::cli
