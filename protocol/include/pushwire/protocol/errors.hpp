// Error codes shared by server and client, and their mapping to HTTP statuses and
// WebSocket close codes. Pure data: no I/O, no exceptions.
#pragma once

#include <string>
#include <string_view>

namespace pushwire::protocol {

enum class ErrorCode {
    BadRequest,         // malformed request line, query or frame
    BadJson,            // body or frame is not valid JSON
    BadChannel,         // channel name outside the allowed alphabet or length
    BadCursor,          // resume position (since / Last-Event-ID) malformed
    UnknownField,       // a JSON object carried a field we do not know
    BadType,            // a JSON field had the wrong type
    MissingField,       // a required JSON field is absent
    TooLarge,           // body, frame or message above --max-message-bytes
    TooDeep,            // JSON nested deeper than kMaxDataDepth
    NotFound,           // unknown URL
    MethodNotAllowed,   // known URL, wrong method
    TransportDisabled,  // the transport is switched off by --transports
    RateLimited,        // too many requests (429, with Retry-After)
    Unauthorized,       // a token is needed, or the one given is not good (401)
    Forbidden,          // the caller's rights do not cover this (403)
    TokenExpired,       // the token expired: get a new one and resume (401)
    Overloaded,         // server cannot take more work now
    BrokerUnavailable,  // the broker (Redis) cannot be reached: nothing was stored
    // A publish was sent to the broker and its answer never came (a timeout, the
    // connection lost): it may or may not have been stored. Retry it with its
    // idempotency key to be sure it is stored once.
    PublishOutcomeUnknown,
    // A browser page of an origin not in --allowed-origins (403, with CORS lines naming
    // that origin, so that the page can read why).
    OriginNotAllowed,
    UnknownMethod,  // POST /pushwire/api/<method> with a method that does not exist (404)
    TokenRevoked,   // the token's user was revoked (server API `revoke`) after it was issued (401)
    Disconnected,   // the backend disconnected this client (server API `disconnect`; 409)
    Internal,       // a bug: never expected
};

// Stable snake_case name, used on the wire ("bad_channel").
std::string_view errorCodeName(ErrorCode code);

// HTTP status a front answers with for this code (400, 404, 413, 429, 503...).
int httpStatus(ErrorCode code);

// WebSocket close codes used by the server.
constexpr int kCloseNormal = 1000;
constexpr int kCloseGoingAway = 1001;
constexpr int kClosePolicy = 1008;      // bad input the connection cannot recover from
constexpr int kCloseTooBig = 1009;      // frame above the size limit
constexpr int kCloseOverloaded = 1013;  // "try again later": slow consumer, server busy
// unauthorized or token_expired: get a (new) token, reconnect and resume from the cursor
constexpr int kCloseTokenExpired = 4001;
constexpr int kCloseForbidden = 4003;  // the credentials given are refused (an API key from a browser)
// The backend disconnected this client (server API `disconnect`): 4005 do not reconnect,
// 4006 reconnect (and resume from the cursor).
constexpr int kCloseDisconnected = 4005;
constexpr int kCloseDisconnectedReconnect = 4006;

// {"error":{"code":"...","message":"..."}}
std::string errorBody(ErrorCode code, std::string_view message);

// An error value: what failed and a sentence a developer can act on.
struct Error {
    ErrorCode code;
    std::string message;
};

}  // namespace pushwire::protocol
