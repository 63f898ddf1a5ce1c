// A reader of a channel no test touches, kept open beside whatever a test does to the
// server: abuse is contained only if the other clients do not notice it. Used by the
// integration tests (one home instead of a copy per test file).
//
// Lifetime: within one test case, shorter than the ServerProcess it reads from.
#pragma once

#include <httplib.h>

#include <string>

#include "integration/server_process.hpp"

namespace pushwire::test {

class Bystander {
public:
    // An SSE reader of "calm" on an open server.
    explicit Bystander(ServerProcess& server);
    // `query`: more of the stream's query string (`&token=...`); `publishHeaders`: what
    // stillWorks() publishes with (an API key on a secured server).
    Bystander(ServerProcess& server, std::string channel, const std::string& query, httplib::Headers publishHeaders);

    // The server is alive; one more message published on the channel arrives, and the
    // stream holds every message published so far, each once, in seq order.
    void stillWorks();

private:
    ServerProcess& server_;
    std::string channel_;
    httplib::Headers publishHeaders_;
    SseClient sse_;
};

}  // namespace pushwire::test
