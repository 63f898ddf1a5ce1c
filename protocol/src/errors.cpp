#include "pushwire/protocol/errors.hpp"

#include "json_util.hpp"

namespace pushwire::protocol {

std::string_view errorCodeName(ErrorCode code) {
    switch (code) {
        case ErrorCode::BadRequest: return "bad_request";
        case ErrorCode::BadJson: return "bad_json";
        case ErrorCode::BadChannel: return "bad_channel";
        case ErrorCode::BadCursor: return "bad_cursor";
        case ErrorCode::UnknownField: return "unknown_field";
        case ErrorCode::BadType: return "bad_type";
        case ErrorCode::MissingField: return "missing_field";
        case ErrorCode::TooLarge: return "too_large";
        case ErrorCode::TooDeep: return "too_deep";
        case ErrorCode::NotFound: return "not_found";
        case ErrorCode::MethodNotAllowed: return "method_not_allowed";
        case ErrorCode::TransportDisabled: return "transport_disabled";
        case ErrorCode::RateLimited: return "rate_limited";
        case ErrorCode::Unauthorized: return "unauthorized";
        case ErrorCode::Forbidden: return "forbidden";
        case ErrorCode::TokenExpired: return "token_expired";
        case ErrorCode::Overloaded: return "overloaded";
        case ErrorCode::BrokerUnavailable: return "broker_unavailable";
        case ErrorCode::PublishOutcomeUnknown: return "publish_outcome_unknown";
        case ErrorCode::OriginNotAllowed: return "origin_not_allowed";
        case ErrorCode::UnknownMethod: return "unknown_method";
        case ErrorCode::TokenRevoked: return "token_revoked";
        case ErrorCode::Disconnected: return "disconnected";
        case ErrorCode::Internal: return "internal";
    }
    return "internal";
}

int httpStatus(ErrorCode code) {
    switch (code) {
        case ErrorCode::TooLarge: return 413;
        case ErrorCode::NotFound:
        case ErrorCode::UnknownMethod:
        case ErrorCode::TransportDisabled: return 404;
        case ErrorCode::Disconnected: return 409;
        case ErrorCode::MethodNotAllowed: return 405;
        case ErrorCode::RateLimited: return 429;
        case ErrorCode::Unauthorized:
        case ErrorCode::TokenRevoked:
        case ErrorCode::TokenExpired: return 401;
        case ErrorCode::Forbidden:
        case ErrorCode::OriginNotAllowed: return 403;
        case ErrorCode::Overloaded:
        case ErrorCode::BrokerUnavailable: return 503;
        case ErrorCode::PublishOutcomeUnknown: return 504;  // the broker behind us did not answer
        case ErrorCode::Internal: return 500;
        default: return 400;
    }
}

std::string errorBody(ErrorCode code, std::string_view message) {
    return "{\"error\":{\"code\":\"" + std::string(errorCodeName(code)) + "\",\"message\":" + detail::quote(message) +
           "}}";
}

}  // namespace pushwire::protocol
