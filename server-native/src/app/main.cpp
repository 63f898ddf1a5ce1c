// pushwire-server entry point: parse options, raise the file limit, run the loop.
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <iostream>

#include "app/build_info.hpp"
#include "app/options.hpp"
#include "app/server.hpp"
#include "front/log.hpp"

namespace {

using namespace pushwire::server;

// The start-up lines (log::announce: stdout, text or JSON). Tests and scripts read the
// first one to learn the ports (with --port 0): "listening http://HOST:PORT" and, when
// WebSocket is enabled, " ws://HOST:PORT/pushwire/ws" right after it.
void announceStart(const Options& o, const Server& server) {
    const std::string http =
        std::string(server.tls() ? "https://" : "http://") + o.host + ":" + std::to_string(server.httpPort());
    const std::string ws = server.websocketEnabled() ? std::string(server.tls() ? "wss://" : "ws://") + o.host + ":" +
                                                           std::to_string(server.wsPort()) + "/pushwire/ws"
                                                     : std::string();
    std::string transports;
    for (const std::string& name : server.transports()) transports += (transports.empty() ? "" : ",") + name;
    log::announce(log::Level::Info, "listening",
                  std::string(kVersion) + " listening " + http + (ws.empty() ? "" : " " + ws) + " transports " +
                      transports + (o.webRoot.empty() ? "" : " web-root " + o.webRoot),
                  {{"version", kVersion},
                   {"http", http},
                   log::json("websocket", ws.empty() ? "null" : "\"" + ws + "\""),
                   log::list("transports", server.transports()),
                   {"web_root", o.webRoot}});
    const std::string broker = server.brokerName();
    if (broker == "memory") {
        log::announce(log::Level::Info, "broker", "broker memory (channels and history live in this process only)",
                      {{"broker", broker}, {"state", server.brokerState()}});
    } else if (server.brokerAvailable()) {
        log::announce(log::Level::Info, "broker",
                      "broker " + broker + " reached (keys start with \"" + o.broker.prefix + ":\")",
                      {{"broker", broker}, {"state", server.brokerState()}, {"prefix", o.broker.prefix}});
    } else {
        log::announce(log::Level::Warn, "broker",
                      "WARNING: broker " + broker + " cannot be reached (" + server.brokerState() +
                          "); until it is, negotiate and /pushwire/healthz answer 503 and publishes "
                          "broker_unavailable. Retrying.",
                      {{"broker", broker}, {"state", server.brokerState()}});
    }
    log::announce(log::Level::Info, "write_path", "writes with " + server.writePath(), {{"path", server.writePath()}});
    if (std::string presence = server.presenceSummary(); !presence.empty()) {
        const bool warning = presence.find("WARNING") != std::string::npos;
        log::announce(warning ? log::Level::Warn : log::Level::Info, "presence", presence, {{"summary", presence}});
    }
    if (server.open()) {
        log::announce(log::Level::Warn, "access_policy", "WARNING: " + server.accessSummary(),
                      {log::json("open", "true"), {"summary", server.accessSummary()}});
    } else {
        log::announce(log::Level::Info, "access_policy", "access: " + server.accessSummary(),
                      {log::json("open", "false"), {"summary", server.accessSummary()}});
    }
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> commandLine(argv + 1, argv + argc);
    std::vector<std::string> environment;
    for (char** entry = environ; entry && *entry; ++entry) environment.emplace_back(*entry);
    std::vector<std::string> args;
    std::string problem;
    std::vector<UnknownVariable> unknown;
    if (!gatherArguments(commandLine, environment, args, problem, &unknown)) {
        std::cerr << "pushwire-server: " << problem << "\n";
        return 2;
    }
    ParsedOptions parsed = parseOptions(args);
    if (parsed.help) {
        std::cout << usage();
        return 0;
    }
    if (parsed.version) {
        std::cout << "pushwire-server " << kVersion << " (commit " << buildCommit() << ")\n";
        return 0;
    }
    if (!parsed.error.empty()) {
        std::cerr << "pushwire-server: " << parsed.error << "\n";
        return 2;
    }
    const Options& o = parsed.options;
    try {
        log::configure(o.logLevel, o.logFormat, o.accessLog);
    } catch (const std::exception& e) {
        std::cerr << "pushwire-server: " << e.what() << "\n";
        return 2;
    }
    for (const UnknownVariable& variable : unknown) {
        log::write(log::Level::Warn, "unknown_variable",
                   {{"name", variable.name},
                    {"did_you_mean", variable.didYouMean},
                    {"message", variable.name + " names no option of pushwire-server and is ignored" +
                                    (variable.didYouMean.empty() ? std::string()
                                                                 : "; did you mean " + variable.didYouMean + "?")}});
    }
    if (parsed.printConfig) {
        std::cout << effectiveConfig(o);
        return 0;
    }
    std::signal(SIGPIPE, SIG_IGN);
    rlimit files{};
    if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
        files.rlim_cur = files.rlim_max;
        setrlimit(RLIMIT_NOFILE, &files);
    }
    try {
        Server server(o);
        server.start();
        // A remote broker is reached (or fails) within a few round trips: wait that long,
        // so that the start-up lines say which.
        server.awaitBroker(std::chrono::seconds(3));
        announceStart(o, server);
        server.run();
        log::announce(log::Level::Info, "stopped", "stopped", {});
    } catch (const std::exception& e) {
        std::cerr << "pushwire-server: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
