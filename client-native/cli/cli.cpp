#include "cli.hpp"

#include <algorithm>
#include <fstream>
#include <iostream>
#include <sstream>

namespace pushwire::cli {

void complain(const std::string& message) { std::cerr << "pushwire: " << message << "\n"; }

std::optional<Args> parseArgs(int argc, char** argv, int first, const std::vector<std::string>& valued,
                              const std::vector<std::string>& flags) {
    Args args;
    bool optionsEnded = false;
    for (int i = first; i < argc; ++i) {
        std::string arg = argv[i];
        if (optionsEnded || arg.size() < 2 || arg.compare(0, 2, "--") != 0) {
            args.positional.push_back(arg);
            continue;
        }
        if (arg == "--") {
            optionsEnded = true;
            continue;
        }
        std::string name = arg, value;
        bool inlineValue = false;
        if (std::size_t eq = arg.find('='); eq != std::string::npos) {
            name = arg.substr(0, eq);
            value = arg.substr(eq + 1);
            inlineValue = true;
        }
        if (std::find(flags.begin(), flags.end(), name) != flags.end() && !inlineValue) {
            args.options[name] = "";
        } else if (std::find(valued.begin(), valued.end(), name) != valued.end()) {
            if (!inlineValue) {
                if (i + 1 >= argc) {
                    complain(name + " needs a value (see --help)");
                    return std::nullopt;
                }
                value = argv[++i];
            }
            args.options[name] = value;
        } else {
            complain("unknown option " + name + " (see --help)");
            return std::nullopt;
        }
    }
    return args;
}

std::optional<std::string> readSecretFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        complain("cannot read " + path);
        return std::nullopt;
    }
    std::stringstream text;
    text << in.rdbuf();
    std::string out = text.str();
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r' || out.back() == ' ')) out.pop_back();
    return out;
}

std::optional<std::string> readToken(const Args& args) {
    if (args.has("--token-file")) return readSecretFile(args.get("--token-file"));
    return args.get("--token");
}

bool isTlsRefusal(const std::string& reason) {
    return reason.find("TLS: the server's certificate") != std::string::npos ||
           reason.find("TLS: the CA certificates") != std::string::npos;
}

std::vector<std::string> parseUrls(const std::string& text) {
    std::vector<std::string> urls;
    std::stringstream in(text);
    std::string url;
    while (std::getline(in, url, ',')) {
        while (!url.empty() && url.back() == '/') url.pop_back();
        const bool http = url.compare(0, 7, "http://") == 0 && url.size() > 7;
        const bool https = url.compare(0, 8, "https://") == 0 && url.size() > 8;
        if (!http && !https) {
            complain("'" + url + "' is not a server URL: give http://host:port or https://host[:port]");
            return {};
        }
        urls.push_back(url);
    }
    if (urls.empty()) complain("no server URL given");
    return urls;
}

}  // namespace pushwire::cli
