// What `pushwire sub` and `pushwire presence --follow` share: a pushwire::Client on its own
// loop that prints one JSON line per event to stdout until it is told to end, the reader of
// stdout goes away (`| head`), SIGINT/SIGTERM comes, or the client closes; its state on
// stderr. A command makes one, subscribes through client(), then returns run().
#pragma once

#include <asio/io_context.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli.hpp"
#include "pushwire/client.hpp"

namespace pushwire::cli {

// The client's options from --transport, --ca-file and the token read by readToken(); nullopt
// (with a message) for an unknown transport.
std::optional<ClientOptions> clientOptions(const Args& args, const std::string& token);

class FollowSession {
public:
    // `beforeClose` runs once as the session ends, before the client is closed (to save
    // positions).
    FollowSession(const Args& args, const std::vector<std::string>& urls, const ClientOptions& options,
                  std::function<void()> beforeClose = {});
    ~FollowSession();

    Client& client() { return *client_; }
    bool stopping() const { return stopping_; }

    // One line to stdout; false once the session is ending (the reader is gone: exit 0; a
    // write failed otherwise: exit 1).
    bool print(const std::string& line);
    // Ends the session with this exit status (the first call counts).
    void finish(int status);
    // Runs until the end; the exit status.
    int run();

private:
    asio::io_context io_;
    std::unique_ptr<Client> client_;
    std::function<void()> beforeClose_;
    int status_ = kExitOk;
    bool stopping_ = false;
};

}  // namespace pushwire::cli
