// The `pushwire` command line: shared parts of its commands. Each command is a function
// from the parsed arguments to an exit status (kExit*), writing results to stdout and
// anything for a person to stderr.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace pushwire::cli {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;  // the server refused, or could not be reached
constexpr int kExitUsage = 2;   // the command line is wrong

struct Args {
    std::vector<std::string> positional;         // after the command's name
    std::map<std::string, std::string> options;  // "--since" → "…"; flags → ""
    bool has(const std::string& name) const { return options.count(name) != 0; }
    std::string get(const std::string& name, const std::string& otherwise = {}) const {
        auto it = options.find(name);
        return it == options.end() ? otherwise : it->second;
    }
};

// Parses `argv` after the command; `valued` are the options that take a value, `flags`
// those that do not. nullopt (and a message on stderr) for an unknown option or a missing
// value.
std::optional<Args> parseArgs(int argc, char** argv, int first, const std::vector<std::string>& valued,
                              const std::vector<std::string>& flags);

// "pushwire: " + message, to stderr.
void complain(const std::string& message);

// The contents of a file without its trailing line breaks (an API key, a token); nullopt
// with a message when it cannot be read.
std::optional<std::string> readSecretFile(const std::string& path);

// The token of --token, or of --token-file (read); "" when neither is given; nullopt with a
// message when the file cannot be read.
std::optional<std::string> readToken(const Args& args);

// URL: one, or several separated by commas (servers sharing channels, in order of
// preference). Empty with a message when one is not http://host[:port].
std::vector<std::string> parseUrls(const std::string& text);

// A state reason of the client that says a server's TLS certificate was not verified (the
// platform's words, client-native/src/http_errors.hpp): retrying cannot mend it.
bool isTlsRefusal(const std::string& reason);

int subCommand(const Args& args);
int pubCommand(const Args& args);
int historyCommand(const Args& args);
int presenceCommand(const Args& args);

}  // namespace pushwire::cli
