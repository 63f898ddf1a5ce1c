// `pushwire sub URL CHANNEL...`: one JSON line per message and gap on stdout, the state
// and errors on stderr, the positions saved to --position-file after each line written.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "cli.hpp"
#include "follow_session.hpp"
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
    const std::optional<std::string> token = readToken(args);
    if (!token) return kExitUsage;
    const std::optional<ClientOptions> options = clientOptions(args, *token);
    if (!options) return kExitUsage;
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

    FollowSession session(args, urls, *options, [&positions] { positions.save(); });
    Client& client = session.client();
    std::vector<Subscription> subscriptions;
    std::set<std::string> live;  // channels still subscribed

    for (std::size_t i = 1; i < args.positional.size(); ++i) {
        const std::string channel = args.positional[i];
        const std::size_t index = subscriptions.size();
        SubscribeOptions subscribe;
        subscribe.since = positions.get(channel);
        if (subscribe.since.empty()) subscribe.since = args.get("--since");
        subscribe.onGap = [&, index](const Gap& gap) {
            // In the server's order of keys (as docs/cpp.md and `history` show it).
            nlohmann::ordered_json line = {
                {"gap",
                 {{"channel", gap.channel},
                  {"from", gap.from},
                  {"to", gap.to ? nlohmann::ordered_json(*gap.to) : nlohmann::ordered_json(nullptr)},
                  {"reason", gap.reason}}}};
            if (session.print(line.dump())) positions.set(gap.channel, subscriptions[index].position());
        };
        subscribe.onError = [&, channel](const Error& error) {
            complain(channel + ": " + error.code + ": " + error.message);
            // A refusal the command cannot mend (its token is fixed): give up.
            if (error.code == "bad_cursor") return;
            if (error.code == "unauthorized" || error.code == "token_expired" || error.code == "token_revoked") {
                session.finish(kExitFailed);
                return;
            }
            live.erase(channel);
            if (live.empty()) session.finish(kExitFailed);
        };
        Subscription subscription = client.subscribe(
            channel,
            [&, index](const Message& message) {
                // The data is JSON already: spliced in as it is.
                std::string line = json{{"channel", message.channel}, {"seq", message.seq}}.dump();
                line.pop_back();
                line += ",\"data\":" + message.data + ",\"time\":" + std::to_string(message.time) + "}";
                if (!session.print(line)) return;
                positions.set(message.channel, subscriptions[index].position());
                if (count > 0 && --count == 0) session.finish(kExitOk);
            },
            std::move(subscribe));
        subscriptions.push_back(subscription);
        if (subscription.active()) live.insert(channel);
    }
    if (live.empty()) return kExitUsage;  // every channel name refused (told on stderr)

    return session.run();
}

}  // namespace pushwire::cli
