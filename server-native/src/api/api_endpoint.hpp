// The server API for the backend: POST /pushwire/api/<method> with a JSON object body,
// answered with a JSON object (docs/api.md). Methods:
//   presence {channel}                        the channel's members (--presence channels)
//   presence_stats {channel}                  its numbers of clients and users
//   history {channel, since?, limit?}         what a channel holds after a position
//   channels {pattern?, cursor?, limit?}      the channels held, a page at a time
//   info {}                                   every node
//   disconnect {user, client?, reconnect?}    close a user's connections
//   unsubscribe {user, channel}               take a user out of a channel
//   subscribe {user, channel}                 put a user's connections in a channel
//   revoke {user, before?}                    refuse the user's tokens issued before
// Who may call: the backend (Authorization: ApiKey), or anyone when the server is open.
// User actions go through an Actions (api/actions.hpp): this node, or every node.
//
// Threading: the loop thread. A call waiting for other nodes or the broker stays parked
// on its connection.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "api/actions.hpp"
#include "api/api_body.hpp"
#include "front/http_connection.hpp"
#include "transports/context.hpp"

namespace pushwire::server::api {

class ApiEndpoint {
public:
    static constexpr const char* kPrefix = "/pushwire/api/";
    static constexpr std::size_t kMaxBodyBytes = 64 * 1024;
    static constexpr std::size_t kMaxUserLength = 256;

    ApiEndpoint(Context& context, Actions& actions, std::int64_t maxTokenLifetimeSeconds);
    void handle(HttpRequest& request, const HttpConnectionPtr& connection);

    // Calls answered, by method ("unknown" for the rest) and result ("ok" or the error
    // code), for pushwire_api_calls_total.
    const std::map<std::pair<std::string, std::string>, std::uint64_t>& calls() const { return calls_; }

private:
    using Answer = std::function<void(protocol::Result<std::string>)>;
    using Method = void (ApiEndpoint::*)(ApiBody&, Answer);

    void presence(ApiBody& body, Answer answer);
    void presenceStats(ApiBody& body, Answer answer);
    void readPresence(ApiBody& body, bool statsOnly, Answer answer);
    void history(ApiBody& body, Answer answer);
    void channels(ApiBody& body, Answer answer);
    void info(ApiBody& body, Answer answer);
    void disconnect(ApiBody& body, Answer answer);
    void unsubscribe(ApiBody& body, Answer answer);
    void subscribe(ApiBody& body, Answer answer);
    void revoke(ApiBody& body, Answer answer);
    void userChannel(ApiBody& body, UserAction::Kind kind, Answer answer);
    // Runs the action on every node, answering {"<field>": N}.
    void runAction(const UserAction& action, const char* field, Answer answer);

    void count(const std::string& method, const std::string& result) { ++calls_[{method, result}]; }

    Context& context_;
    Actions& actions_;
    std::int64_t maxTokenLifetime_;
    std::map<std::string, Method, std::less<>> methods_;
    std::map<std::pair<std::string, std::string>, std::uint64_t> calls_;
};

}  // namespace pushwire::server::api
