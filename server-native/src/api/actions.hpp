// Where the server API's user actions and node queries go: this node alone
// (LocalActions, the memory broker), or every node of a Redis deployment
// (api/cluster_control.hpp). The API endpoint knows only this interface.
//
// Threading: the loop thread; `done` runs once, maybe before the call returns.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>

#include "api/user_action.hpp"
#include "pushwire/protocol/result.hpp"

namespace pushwire::server::api {

class Actions {
public:
    virtual ~Actions() = default;
    // Does `action` on every node; `done` gets the connections it reached in all.
    using CountDone = std::function<void(protocol::Result<std::int64_t>)>;
    virtual void run(const UserAction& action, CountDone done) = 0;
    // Every node: [{"id","uptime_s","connections","subscriptions","broker":{...}}...].
    using NodesDone = std::function<void(protocol::Result<nlohmann::json>)>;
    virtual void nodes(NodesDone done) = 0;
};

// This node's description for `info`, made by the server (it knows the counts).
using NodeInfo = std::function<nlohmann::json()>;

class LocalActions final : public Actions {
public:
    LocalActions(Context& context, Revocations& revocations, NodeInfo info)
        : context_(context), revocations_(revocations), info_(std::move(info)) {}
    void run(const UserAction& action, CountDone done) override { done(applyLocally(action, context_, revocations_)); }
    void nodes(NodesDone done) override { done(nlohmann::json::array({info_()})); }

private:
    Context& context_;
    Revocations& revocations_;
    NodeInfo info_;
};

}  // namespace pushwire::server::api
