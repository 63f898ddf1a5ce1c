// `pushwire sub URL CHANNEL...`: one JSON line per message and gap on stdout, the state
// and errors on stderr, the positions saved to --position-file after each line written.
#include <unistd.h>

#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/signal_set.hpp>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "cli.hpp"
#include "pushwire/client.hpp"

namespace pushwire::cli {
namespace {

using nlohmann::json;

// The positions file: {"channel": "position", ...}, replaced whole (written beside it,
// then renamed) so that a crash leaves the old one or the new one.
class PositionFile {
public:
    explicit PositionFile(std::string path) : path_(std::move(path)) {}
    bool enabled() const { return !path_.empty(); }

    // False with a message when it exists but is not such a file.
    bool load() {
        if (!enabled()) return true;
        std::ifstream in(path_);
        if (!in) return true;  // not there yet: from --since or now
        json doc = json::parse(in, nullptr, false);
        if (doc.is_discarded() || !doc.is_object()) {
            complain(path_ + " is not a positions file (a JSON object of channel: position)");
            return false;
        }
        for (auto& [channel, position] : doc.items()) {
            if (position.is_string()) positions_[channel] = position.get<std::string>();
        }
        return true;
    }
    std::string get(const std::string& channel) const {
        auto it = positions_.find(channel);
        return it == positions_.end() ? std::string() : it->second;
    }
    void set(const std::string& channel, const std::string& position) {
        if (!enabled() || position.empty() || positions_[channel] == position) return;
        positions_[channel] = position;
        save();
    }
    void save() {
        if (!enabled()) return;
        const std::string temporary = path_ + ".tmp";
        {
            std::ofstream out(temporary, std::ios::trunc);
            out << json(positions_).dump() << "\n";
            if (!out) {
                complain("cannot write " + temporary);
                return;
            }
        }
        if (std::rename(temporary.c_str(), path_.c_str()) != 0) complain("cannot replace " + path_);
    }

private:
    std::string path_;
    std::map<std::string, std::string> positions_;
};

}  // namespace

int subCommand(const Args& args) {
    if (args.positional.size() < 2) {
        complain("sub needs a URL and at least one CHANNEL (see pushwire --help)");
        return kExitUsage;
    }
    const std::vector<std::string> urls = parseUrls(args.positional[0]);
    if (urls.empty()) return kExitUsage;
    ClientOptions options;
    if (args.has("--transport")) {
        auto transport = transportFromString(args.get("--transport"));
        if (!transport) {
            complain("--transport " + args.get("--transport") + ": give websocket, sse, longpoll, poll or auto");
            return kExitUsage;
        }
        options.transport = *transport;
    }
    const std::optional<std::string> tokenRead = readToken(args);
    if (!tokenRead) return kExitUsage;
    const std::string token = *tokenRead;
    if (!token.empty()) options.getToken = [token](TokenCallback done) { done(token); };
    options.caFile = args.get("--ca-file");
    long count = -1;  // messages to print before ending (-1: no end)
    if (args.has("--count")) {
        char* end = nullptr;
        count = std::strtol(args.get("--count").c_str(), &end, 10);
        if (!end || *end || count < 1) {
            complain("--count " + args.get("--count") + ": give a number of messages, 1 or more");
            return kExitUsage;
        }
    }
    PositionFile positions(args.get("--position-file"));
    if (!positions.load()) return kExitUsage;

    // A reader gone (`| head`) is the end, not a signal that kills us mid-write.
    std::signal(SIGPIPE, SIG_IGN);
    asio::io_context io;
    int status = kExitOk;
    bool stopping = false;
    auto client = std::make_unique<Client>(io, urls, options);
    std::vector<Subscription> subscriptions;
    std::set<std::string> live;  // channels still subscribed

    auto finish = [&](int exitStatus) {
        if (stopping) return;
        stopping = true;
        status = exitStatus;
        positions.save();
        client->close();
        io.stop();
    };
    // One line to stdout; false once the reader is gone.
    auto print = [&](const std::string& line) {
        if (stopping) return false;
        if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size() || std::fputc('\n', stdout) == EOF ||
            std::fflush(stdout) != 0) {
            finish(errno == EPIPE ? kExitOk : kExitFailed);
            return false;
        }
        return true;
    };

    client->onStateChange([&](State state, const std::string& reason) {
        if (state == State::Reconnecting) complain("reconnecting: " + reason);
        // A server whose certificate is not trusted here stays so: give up (exit 1).
        if (state == State::Reconnecting && isTlsRefusal(reason)) finish(kExitFailed);
        if (state == State::Connected && args.has("--verbose")) {
            complain(std::string("connected to ") + client->server() + " over " + toString(client->transport()));
        }
        if (state == State::Closed && !stopping) {
            complain("closed: " + reason);
            finish(kExitFailed);
        }
    });

    for (std::size_t i = 1; i < args.positional.size(); ++i) {
        const std::string channel = args.positional[i];
        const std::size_t index = subscriptions.size();
        SubscribeOptions subscribe;
        subscribe.since = positions.get(channel);
        if (subscribe.since.empty()) subscribe.since = args.get("--since");
        subscribe.onGap = [&, index](const Gap& gap) {
            json line = {{"gap",
                          {{"channel", gap.channel},
                           {"from", gap.from},
                           {"to", gap.to ? json(*gap.to) : json(nullptr)},
                           {"reason", gap.reason}}}};
            if (print(line.dump())) positions.set(gap.channel, subscriptions[index].position());
        };
        subscribe.onError = [&, channel](const Error& error) {
            complain(channel + ": " + error.code + ": " + error.message);
            // A refusal the command cannot mend (its token is fixed): give up.
            if (error.code == "bad_cursor") return;
            if (error.code == "unauthorized" || error.code == "token_expired" || error.code == "token_revoked") {
                finish(kExitFailed);
                return;
            }
            live.erase(channel);
            if (live.empty()) finish(kExitFailed);
        };
        Subscription subscription = client->subscribe(
            channel,
            [&, index](const Message& message) {
                // The data is JSON already: spliced in as it is.
                std::string line = json{{"channel", message.channel}, {"seq", message.seq}}.dump();
                line.pop_back();
                line += ",\"data\":" + message.data + ",\"time\":" + std::to_string(message.time) + "}";
                if (!print(line)) return;
                positions.set(message.channel, subscriptions[index].position());
                if (count > 0 && --count == 0) finish(kExitOk);
            },
            std::move(subscribe));
        subscriptions.push_back(subscription);
        if (subscription.active()) live.insert(channel);
    }
    if (live.empty()) return kExitUsage;  // every channel name refused (told on stderr)

    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const std::error_code& ec, int) {
        if (!ec) finish(kExitOk);
    });
    // A reader that goes away (`| head -n 3` has its lines) ends the command at once, not
    // at the next message: the pipe's error shows on stdout (epoll; on a file or a
    // terminal this wait fails or never ends, and a failed write ends it as before).
    asio::posix::stream_descriptor out(io, ::dup(STDOUT_FILENO));
    out.async_wait(asio::posix::stream_descriptor::wait_error, [&](const std::error_code& ec) {
        if (!ec) finish(kExitOk);
    });
    io.run();
    client.reset();
    return status;
}

}  // namespace pushwire::cli
