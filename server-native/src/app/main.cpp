// pushwire-server entry point: parse options, raise the file limit, run the loop.
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <iostream>

#include "app/options.hpp"
#include "app/server.hpp"
#include "front/log.hpp"

int main(int argc, char** argv) {
    using namespace pushwire::server;
    std::vector<std::string> commandLine(argv + 1, argv + argc);
    std::vector<std::string> environment;
    for (char** entry = environ; entry && *entry; ++entry) environment.emplace_back(*entry);
    std::vector<std::string> args;
    std::string problem;
    if (!gatherArguments(commandLine, environment, args, problem)) {
        std::cerr << "pushwire-server: " << problem << "\n";
        return 2;
    }
    ParsedOptions parsed = parseOptions(args);
    if (parsed.help) {
        std::cout << usage();
        return 0;
    }
    if (parsed.version) {
        std::cout << "pushwire-server " << kVersion << "\n";
        return 0;
    }
    if (!parsed.error.empty()) {
        std::cerr << "pushwire-server: " << parsed.error << "\n";
        return 2;
    }
    std::signal(SIGPIPE, SIG_IGN);
    rlimit files{};
    if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
        files.rlim_cur = files.rlim_max;
        setrlimit(RLIMIT_NOFILE, &files);
    }
    try {
        log::configure(parsed.options.logLevel, parsed.options.logFormat, parsed.options.accessLog);
        Server server(parsed.options);
        server.start();
        const Options& o = parsed.options;
        // Tests and scripts read this line to learn the ports (with --port 0).
        std::cout << "pushwire-server " << kVersion << " listening " << (server.tls() ? "https://" : "http://")
                  << o.host << ":" << server.httpPort() << (server.tls() ? " wss://" : " ws://") << o.host << ":"
                  << server.wsPort() << "/pushwire/ws" << (o.webRoot.empty() ? "" : " web-root " + o.webRoot)
                  << std::endl;
        std::cout << "pushwire-server writes with " << server.writePath() << std::endl;
        if (server.open()) {
            std::cout << "pushwire-server WARNING: " << server.accessSummary() << std::endl;
        } else {
            std::cout << "pushwire-server access: " << server.accessSummary() << std::endl;
        }
        if (std::string presence = server.presenceSummary(); !presence.empty()) {
            std::cout << "pushwire-server " << presence << std::endl;
        }
        server.run();
        std::cout << "pushwire-server stopped" << std::endl;
    } catch (const std::exception& e) {
        std::cerr << "pushwire-server: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
