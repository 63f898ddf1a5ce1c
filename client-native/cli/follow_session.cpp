#include "follow_session.hpp"

#include <unistd.h>

#include <asio/posix/stream_descriptor.hpp>
#include <asio/signal_set.hpp>
#include <cerrno>
#include <csignal>
#include <cstdio>

namespace pushwire::cli {

std::optional<ClientOptions> clientOptions(const Args& args, const std::string& token) {
    ClientOptions options;
    if (args.has("--transport")) {
        auto transport = transportFromString(args.get("--transport"));
        if (!transport) {
            complain("--transport " + args.get("--transport") + ": give websocket, sse, longpoll, poll or auto");
            return std::nullopt;
        }
        options.transport = *transport;
    }
    if (!token.empty()) options.getToken = [token](TokenCallback done) { done(token); };
    options.caFile = args.get("--ca-file");
    return options;
}

FollowSession::FollowSession(const Args& args, const std::vector<std::string>& urls, const ClientOptions& options,
                             std::function<void()> beforeClose)
    : client_(std::make_unique<Client>(io_, urls, options)), beforeClose_(std::move(beforeClose)) {
    // A reader gone (`| head`) is the end, not a signal that kills us mid-write.
    std::signal(SIGPIPE, SIG_IGN);
    const bool verbose = args.has("--verbose");
    client_->onStateChange([this, verbose](State state, const std::string& reason) {
        if (state == State::Reconnecting) complain("reconnecting: " + reason);
        // A server whose certificate is not trusted here stays so: give up (exit 1).
        if (state == State::Reconnecting && isTlsRefusal(reason)) finish(kExitFailed);
        if (state == State::Connected && verbose) {
            complain(std::string("connected to ") + client_->server() + " over " + toString(client_->transport()));
        }
        if (state == State::Closed && !stopping_) {
            complain("closed: " + reason);
            finish(kExitFailed);
        }
    });
}

FollowSession::~FollowSession() = default;

bool FollowSession::print(const std::string& line) {
    if (stopping_) return false;
    if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size() || std::fputc('\n', stdout) == EOF ||
        std::fflush(stdout) != 0) {
        finish(errno == EPIPE ? kExitOk : kExitFailed);
        return false;
    }
    return true;
}

void FollowSession::finish(int status) {
    if (stopping_) return;
    stopping_ = true;
    status_ = status;
    if (beforeClose_) beforeClose_();
    client_->close();
    io_.stop();
}

int FollowSession::run() {
    asio::signal_set signals(io_, SIGINT, SIGTERM);
    signals.async_wait([this](const std::error_code& ec, int) {
        if (!ec) finish(kExitOk);
    });
    // A reader that goes away (`| head -n 3` has its lines) ends the command at once, not
    // at the next event: the pipe's error shows on stdout (epoll; on a file or a terminal
    // this wait fails or never ends, and a failed write ends it as before).
    asio::posix::stream_descriptor out(io_, ::dup(STDOUT_FILENO));
    out.async_wait(asio::posix::stream_descriptor::wait_error, [this](const std::error_code& ec) {
        if (!ec) finish(kExitOk);
    });
    io_.run();
    client_.reset();
    return status_;
}

}  // namespace pushwire::cli
