// Reading "which channels, from where" out of an HTTP request. Shared by every transport.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "auth/client_id.hpp"
#include "front/http_request.hpp"
#include "pushwire/protocol/cursor.hpp"
#include "pushwire/protocol/frames.hpp"
#include "pushwire/protocol/result.hpp"
#include "transports/context.hpp"
#include "transports/feed.hpp"

namespace pushwire::server {

struct ChannelRequest {
    std::vector<std::string> channels;
    std::optional<protocol::Cursor> cursor;
};

// channel=NAME (repeatable) and channels=A,B; since=CURSOR. With `lastEventId`, the
// Last-Event-ID header or the last_event_id parameter wins over since (it is newer:
// EventSource sends it when it reconnects to the same URL).
protocol::Result<ChannelRequest> readChannelRequest(const HttpRequest& request, const Settings& settings,
                                                    bool lastEventId);

class HttpConnection;

// The feed starts of a request, answering the client's error (and counting it) when the
// request is malformed.
std::optional<std::vector<FeedStart>> readStartsOrAnswer(Context& context, const HttpRequest& request,
                                                         HttpConnection& connection, bool lastEventId);

// Who sent the request; answers 401/403 (and counts it) when its token or key is bad.
std::optional<Caller> identifyOrAnswer(Context& context, const HttpRequest& request, HttpConnection& connection);

// The starts the caller may read, and a refusal for each of the others. When none is
// allowed, answers the first refusal (401 or 403) and returns nullopt; with
// `keepForbidden`, when every refusal is a 403, returns them with no start instead (SSE
// reports them in the stream: an EventSource cannot read a 403).
struct AllowedStarts {
    std::vector<FeedStart> starts;
    std::vector<protocol::Refusal> refused;
};
std::optional<AllowedStarts> allowedOrAnswer(Context& context, const Caller& caller, std::vector<FeedStart> starts,
                                             HttpConnection& connection, bool keepForbidden = false);

// Answers a request none of whose channels could be subscribed: the first refusal's
// status (401, 403 or 503) and code, and every channel's refusal in a `refused` list, so
// that a client can end each subscription with its own reason.
void answerRefusals(HttpConnection& connection, const std::vector<protocol::Refusal>& refused);

// The whole preamble of a subscribing HTTP request: malformed -> 400, bad credentials ->
// 401/403, no channel allowed -> 401/403 (`keepForbidden`: see allowedOrAnswer).
struct SubscribeRequest {
    Caller caller;
    AllowedStarts allowed;
    ClientId client;  // from session= (malformed: 400), or random
};

// The presence member a caller's subscriptions make as `client`.
protocol::Member memberOf(const Caller& caller, const std::string& client);
std::optional<SubscribeRequest> readSubscribeOrAnswer(Context& context, const HttpRequest& request,
                                                      HttpConnection& connection, bool lastEventId,
                                                      bool keepForbidden = false);

// A client the backend disconnected (server API `disconnect`) that asks again while its
// mark lasts: answers 409 disconnected with "reconnect" and returns true. Told to
// reconnect, it is refused once; told not to, for SessionRegistry::kDisconnectedMs.
bool answeredDisconnected(Context& context, const Caller& caller, const std::string& session,
                          HttpConnection& connection);

// {"error":{"code":"disconnected","message":...,"reconnect":bool}}
std::string disconnectedBody(bool reconnect);

}  // namespace pushwire::server
