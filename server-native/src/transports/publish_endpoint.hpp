// POST /pushwire/publish: the HTTP way to publish, in three forms.
//   {"channel":"a","data":...}                 one message        -> {"channel","seq","time"}
//   {"channels":["a","b"],"data":...}          one to each         -> {"results":[...]}
//   Content-Type: application/x-ndjson         one publish a line  -> one answer a line
//     {"channel":"a","data":...,"idempotency_key":"k1"}\n...
// Each may carry an "idempotency_key": a publish repeating the key of one on the same
// channel within --idempotency-window stores nothing and is answered with the first
// one's seq, on every node (Broker::publishOnce). The first two forms are checked whole
// before anything is published (all or nothing); a batch's lines are each their own
// publish: a refused line is answered with its error and the others go on.
//
// Threading: the loop thread. A request stays parked on its connection until every
// answer is in (a remote broker answers later).
#pragma once

#include "front/http_connection.hpp"
#include "transports/context.hpp"

namespace pushwire::server {

class PublishEndpoint {
public:
    explicit PublishEndpoint(Context& context) : context_(context) {}
    void handle(HttpRequest& request, const HttpConnectionPtr& connection);

    // Content-Type application/x-ndjson (or application/ndjson), parameters allowed.
    static bool isBatch(std::string_view contentType);

private:
    void publishJson(HttpRequest& request, const HttpConnectionPtr& connection, const Caller& caller);
    void publishLines(HttpRequest& request, const HttpConnectionPtr& connection, const Caller& caller);
    void toChannels(std::vector<std::string> channels, std::string dataJson, std::string idempotencyKey,
                    const HttpConnectionPtr& connection);

    Context& context_;
};

}  // namespace pushwire::server
