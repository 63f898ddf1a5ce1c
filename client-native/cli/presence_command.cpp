// `pushwire presence URL CHANNEL [--stats] [--follow]`: who is in a presence channel (the
// server's --presence). Without --follow: the members now, one JSON line each, read by
// GET /pushwire/presence (the command is no member: it does not subscribe), then it ends.
// With --follow: that read first (so a channel without presence, or refused, is an error
// at once), then a pushwire::Client subscribes with onJoin/onLeave, whose exact member set
// (docs/sdk.md) prints the members as joins and then every change as it comes, across
// reconnects, until interrupted or its reader goes away. The command's own membership
// (its subscription) is not printed.
#include <httplib.h>
#include <unistd.h>

#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/signal_set.hpp>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli.hpp"
#include "http_errors.hpp"
#include "pushwire/client.hpp"

namespace pushwire::cli {
namespace {

// ordered: lines keep the server's order of keys, and "event" first.
using json = nlohmann::ordered_json;

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
    httplib::Result result = http.Get(target.c_str(), headers);
    if (!result) {
        complain("no answer from " + url + " (" + client::describeHttpError(result.error()) + ")");
        return std::nullopt;
    }
    json body = json::parse(result->body, nullptr, false);
    if (result->status != 200 || !body.is_object()) {
        const json error = body.is_object() && body.contains("error") ? body["error"] : json::object();
        const std::string code = error.value("code", std::string());
        complain("HTTP " + std::to_string(result->status) + " " + code + ": " +
                 error.value("message", result->body.substr(0, 200)));
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
    ClientOptions options;
    if (args.has("--transport")) {
        auto transport = transportFromString(args.get("--transport"));
        if (!transport) {
            complain("--transport " + args.get("--transport") + ": give websocket, sse, longpoll, poll or auto");
            return kExitUsage;
        }
        options.transport = *transport;
    }
    if (!token.empty()) options.getToken = [token](TokenCallback done) { done(token); };
    options.caFile = args.get("--ca-file");
    if (!readPresence(urls[0], channel, false, token, options.caFile)) return kExitFailed;

    std::signal(SIGPIPE, SIG_IGN);
    asio::io_context io;
    int status = kExitOk;
    bool stopping = false;
    auto client = std::make_unique<Client>(io, urls, options);
    auto finish = [&](int exitStatus) {
        if (stopping) return;
        stopping = true;
        status = exitStatus;
        client->close();
        io.stop();
    };
    auto print = [&](const char* event, const Member& member) {
        if (stopping || member.client == client->id()) return;
        const std::string line = json{{"event", event}, {"channel", channel}, {"member", memberJson(member)}}.dump();
        if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size() || std::fputc('\n', stdout) == EOF ||
            std::fflush(stdout) != 0) {
            finish(errno == EPIPE ? kExitOk : kExitFailed);
        }
    };
    client->onStateChange([&](State state, const std::string& reason) {
        if (state == State::Reconnecting) complain("reconnecting: " + reason);
        if (state == State::Reconnecting && isTlsRefusal(reason)) finish(kExitFailed);
        if (state == State::Connected && args.has("--verbose")) {
            complain(std::string("connected to ") + client->server() + " over " + toString(client->transport()));
        }
        if (state == State::Closed && !stopping) {
            complain("closed: " + reason);
            finish(kExitFailed);
        }
    });
    SubscribeOptions subscribe;
    subscribe.onJoin = [&](const Member& member) { print("join", member); };
    subscribe.onLeave = [&](const Member& member) { print("leave", member); };
    subscribe.onError = [&](const Error& error) {
        complain(channel + ": " + error.code + ": " + error.message);
        if (error.code != "bad_cursor") finish(kExitFailed);
    };
    // Its messages are not this command's business (`pushwire sub` prints them).
    Subscription subscription = client->subscribe(
        channel, [](const Message&) {}, std::move(subscribe));
    if (!subscription.active()) return kExitUsage;  // a bad channel name (told on stderr)

    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const std::error_code& ec, int) {
        if (!ec) finish(kExitOk);
    });
    // As `sub`: a reader that goes away (`| head`) ends the command at once.
    asio::posix::stream_descriptor out(io, ::dup(STDOUT_FILENO));
    out.async_wait(asio::posix::stream_descriptor::wait_error, [&](const std::error_code& ec) {
        if (!ec) finish(kExitOk);
    });
    io.run();
    client.reset();
    return status;
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
                          {"clients", body->value("clients", 0)},
                          {"users", body->value("users", 0)}}
                  << "\n";
    } else {
        for (const json& member : body->value("members", json::array())) std::cout << member.dump() << "\n";
        if (body->value("truncated", false)) {
            complain("the list stops at the server's --max-presence-members (--stats counts them all)");
        }
    }
    std::cout.flush();
    return std::cout ? kExitOk : kExitFailed;
}

}  // namespace pushwire::cli
