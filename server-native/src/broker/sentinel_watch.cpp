#include "broker/sentinel_watch.hpp"

#include <cstdlib>
#include <random>
#include <sstream>

namespace pushwire::server {

namespace {
constexpr std::chrono::milliseconds kTimeout{2000};
}  // namespace

SentinelWatch::SentinelWatch(asio::io_context& io, RedisEndpoint endpoint, Switched switched)
    : io_(io), endpoint_(std::move(endpoint)), switched_(std::move(switched)), retry_(io) {}

SentinelWatch::~SentinelWatch() {
    *alive_ = false;
    stopped_ = true;
}

void SentinelWatch::start() { connect(); }

void SentinelWatch::stop() {
    if (stopped_) return;
    stopped_ = true;
    watching_ = false;
    retry_.cancel();
    if (connection_) connection_->close("stopping");
}

void SentinelWatch::connect() {
    if (stopped_ || endpoint_.sentinels.empty()) return;
    const std::size_t index = next_++ % endpoint_.sentinels.size();
    connection_ = std::make_unique<RedisConnection>(io_, sentinelEndpoint(endpoint_, index), kTimeout);
    RedisConnection* connection = connection_.get();
    auto alive = alive_;
    connection->onPush([this, alive](const RedisValue& push) {
        if (*alive) onPush(push);
    });
    connection->onClosed([this, alive](const std::string&) {
        if (!*alive || stopped_) return;
        watching_ = false;
        retryLater();
    });
    connection->connect([this, alive, connection](std::optional<std::string> error) {
        if (!*alive || connection != connection_.get()) return;
        if (error) {
            retryLater();
            return;
        }
        connection->send({"SUBSCRIBE", "+switch-master"});
    });
}

void SentinelWatch::retryLater() {
    if (stopped_) return;
    static thread_local std::mt19937 random{std::random_device{}()};
    retry_.expires_after(std::chrono::milliseconds(500 + static_cast<int>(random() % 500)));
    auto alive = alive_;
    retry_.async_wait([this, alive](const std::error_code& ec) {
        if (*alive && !ec) connect();
    });
}

// ["subscribe", "+switch-master", 1], then ["message", "+switch-master",
// "<name> <old host> <old port> <new host> <new port>"].
void SentinelWatch::onPush(const RedisValue& push) {
    if (push.type != RedisValue::Type::Array || push.elements.size() < 3) return;
    const std::string& kind = push.elements[0].text;
    if (kind == "subscribe") {
        watching_ = true;
        return;
    }
    if (kind != "message" || push.elements[1].text != "+switch-master") return;
    std::istringstream words(push.elements[2].text);
    std::string name, oldHost, oldPort, host, port;
    if (!(words >> name >> oldHost >> oldPort >> host >> port) || name != endpoint_.masterName) return;
    const int number = std::atoi(port.c_str());
    if (number <= 0 || number > 65535) return;
    ++switches_;
    switched_(host, number);
}

}  // namespace pushwire::server
