// The common part of the two polling transports: build the request from the core's
// channels and cursor, feed the answer to the core (epoch first, then gaps, messages,
// cursor), and ask again. Uses only Platform::httpRequest, so it runs natively in tests.
#pragma once

#include "core/transport.hpp"

namespace pushwire::client {

class HttpPollingTransport : public Transport {
public:
    using Transport::Transport;
    ~HttpPollingTransport() override;

    void open() override;
    void channelsChanged(const std::vector<std::string>& added, const std::vector<std::string>& removed) override;
    void close() override;

protected:
    // "/pushwire/poll?..." for this request; `first` is the opening request.
    virtual std::string path(bool first) = 0;
    virtual int requestTimeoutMs(bool first) const = 0;
    // Delay before the next request after an answer with nothing more to fetch.
    virtual int nextDelayMs() const = 0;
    // Whether a subscription change should cut the request in flight (a held one).
    virtual bool interruptOnChange() const = 0;

    // channels=...&since=... for the core's channels now (remembered: the answer's cursor
    // may go by place).
    std::string query();

private:
    void request();
    void onResponse(const HttpResponse& response);
    void schedule(int delayMs);

    std::vector<std::string> requestChannels_;
    std::string usedToken_;  // the token the request in flight carries
    RequestId inFlight_ = 0;
    TimerId timer_ = 0;
    bool opened_ = false;
    bool closed_ = false;
    bool changedWhileInFlight_ = false;
};

std::unique_ptr<Transport> createPollTransport(TransportListener&, Platform&, TransportConfig, int);
std::unique_ptr<Transport> createLongPollTransport(TransportListener&, Platform&, TransportConfig, int);

}  // namespace pushwire::client
