// The client's reads with protocol/'s C++ decoder (see wire.hpp).
#include "core/wire.hpp"

namespace pushwire::client::wire {

protocol::Result<protocol::ServerFrame> serverFrame(std::string_view text) { return protocol::decodeServerFrame(text); }
protocol::Result<protocol::Envelope> envelope(std::string_view text) { return protocol::decodeEnvelope(text); }
protocol::Result<protocol::Gap> gap(std::string_view text) { return protocol::decodeGap(text); }
protocol::Result<protocol::PollResponse> pollResponse(std::string_view text) {
    return protocol::decodePollResponse(text);
}
protocol::Result<protocol::PublishAck> publishAck(std::string_view text) { return protocol::decodePublishAck(text); }
protocol::Result<protocol::NegotiateInfo> negotiate(std::string_view text) { return protocol::decodeNegotiate(text); }
protocol::Result<protocol::ServerFrame> welcome(std::string_view text) { return protocol::decodeWelcome(text); }
protocol::Result<protocol::PresenceAnswer> presenceAnswer(std::string_view text) {
    return protocol::decodePresenceAnswer(text);
}
protocol::Result<protocol::ServerAction> serverAction(std::string_view text) {
    return protocol::decodeServerAction(text);
}
std::optional<protocol::Error> errorBody(std::string_view text) { return protocol::decodeErrorBody(text); }
std::string errorChannel(std::string_view text) { return protocol::errorChannel(text); }
std::vector<protocol::Refusal> refusals(std::string_view text) { return protocol::decodeRefusals(text); }
std::optional<std::int64_t> tokenExpiry(std::string_view jwt) { return protocol::tokenExpiry(jwt); }

}  // namespace pushwire::client::wire
