// The client's reads with the browser's JSON.parse (see core/wire.hpp), for the JS module.
// glue.js (pwRead) parses a document, checks it as protocol/'s decoder does, and answers
// with its fields as one string, in the order of the document's schema there (PW_READ,
// PW_FRAMES), which is the order read here: fields separated by \x1e, the first "" when
// the document is good or an error code followed by its message.
#include <emscripten.h>

#include <cstdlib>
#include <cstring>

#include "core/wire.hpp"
#include "pushwire/protocol/cursor.hpp"

// What pwRead reads; the numbers are glue.js's.
enum ReadKind {
    kFrame = 1,
    kEnvelope,
    kGap,
    kPoll,
    kPublishAck,
    kNegotiate,
    kErrorBody,
    kRefusals,
    kTokenExpiry,
    kPresence,
    kWelcome,
    kServerAction
};

// The fields of `text` read as `kind`, in memory the caller frees.
EM_JS(char*, pw_js_read, (int kind, const char* text, int size), { return pwRead(kind, pwText(text, size)); });

namespace pushwire::client::wire {
namespace {

using protocol::Error;
using protocol::ErrorCode;

class Fields {
public:
    Fields(ReadKind kind, std::string_view text)
        : data_(pw_js_read(kind, text.data(), static_cast<int>(text.size()))), rest_(data_ ? data_ : "") {}
    ~Fields() { std::free(data_); }
    Fields(const Fields&) = delete;
    Fields& operator=(const Fields&) = delete;

    std::string_view next() {
        const std::size_t end = std::min(rest_.find('\x1e'), rest_.size());
        std::string_view field = rest_.substr(0, end);
        rest_.remove_prefix(std::min(end + 1, rest_.size()));
        return field;
    }
    std::string text() { return std::string(next()); }
    // A whole number >= 0 (glue.js writes only those, in decimal), or 0 when empty.
    std::uint64_t number() { return digits(next()); }
    static std::uint64_t digits(std::string_view field) {
        std::uint64_t value = 0;
        for (char c : field) value = value * 10 + static_cast<std::uint64_t>(c - '0');
        return value;
    }
    bool flag() { return next() == "1"; }
    // An error field: a flag, the code and the message.
    std::optional<Error> error() {
        const bool given = flag();
        std::string_view code = next();
        std::string message = text();
        if (!given) return std::nullopt;
        return Error{protocol::errorCodeFromName(code).value_or(ErrorCode::Internal), std::move(message)};
    }
    // The leading status: nullopt when the document is good.
    std::optional<Error> failed() {
        if (!data_) return Error{ErrorCode::Internal, "out of memory"};
        std::string_view status = next();
        if (status.empty()) return std::nullopt;
        return Error{protocol::errorCodeFromName(status).value_or(ErrorCode::Internal), text()};
    }

    // Read into place (assigning whole envelopes and gaps was code of its own).
    void envelope(protocol::Envelope& out) {
        out.channel = text();
        out.seq = number();
        out.dataJson = text();
        out.timeMs = static_cast<std::int64_t>(number());
        const std::uint64_t event = number();
        out.event = event == 1   ? protocol::EntryEvent::Join
                    : event == 2 ? protocol::EntryEvent::Leave
                                 : protocol::EntryEvent::Message;
        member(out.member);
    }
    void member(protocol::Member& out) {
        out.client = text();
        out.user = text();
        out.infoJson = text();
    }
    // PW_PRESENCE: false when the document has no members list.
    bool presence(protocol::PresenceAnswer& out) {
        out.channel = text();
        std::string_view count = next();
        out.members.resize(digits(count));
        for (protocol::Member& m : out.members) member(m);
        out.position = text();
        out.truncated = flag();
        return !count.empty();
    }
    void gap(protocol::Gap& out) {
        out.channel = text();
        out.from = number();
        if (std::string_view to = next(); !to.empty()) out.to = digits(to);
        out.reason = flag() ? protocol::GapReason::EpochChanged : protocol::GapReason::HistoryEvicted;
        std::string epoch = text();
        if (protocol::isValidEpoch(epoch)) out.epoch = std::move(epoch);
    }
    std::vector<std::string> texts() {
        std::vector<std::string> out(number());
        for (std::string& item : out) item = text();
        return out;
    }
    std::vector<protocol::Refusal> refusals() {
        std::vector<protocol::Refusal> out(number());
        for (protocol::Refusal& refusal : out) {
            refusal.channel = text();
            refusal.error = error().value_or(Error{ErrorCode::Internal, ""});
        }
        return out;
    }

private:
    char* data_;
    std::string_view rest_;
};

}  // namespace

protocol::Result<protocol::ServerFrame> serverFrame(std::string_view text) {
    Fields in(kFrame, text);
    if (auto error = in.failed()) return *error;
    protocol::ServerFrame frame;
    frame.type = static_cast<protocol::ServerFrameType>(in.number());
    frame.idJson = in.text();
    switch (frame.type) {
        case protocol::ServerFrameType::Message:
        case protocol::ServerFrameType::Join:
        case protocol::ServerFrameType::Leave: in.envelope(frame.message); break;
        case protocol::ServerFrameType::Presence: in.presence(frame.presence); break;
        case protocol::ServerFrameType::PresenceStats:
            frame.presence.stats = true;
            frame.presence.channel = in.text();
            frame.presence.clients = in.number();
            frame.presence.users = in.number();
            break;
        case protocol::ServerFrameType::Gap: in.gap(frame.gap); break;
        case protocol::ServerFrameType::Ack:
            frame.channel = in.text();
            frame.seq = in.number();
            break;
        case protocol::ServerFrameType::Error:
            frame.error = in.error().value_or(Error{ErrorCode::Internal, "unknown error"});
            frame.channel = in.text();
            break;
        case protocol::ServerFrameType::Welcome:
            frame.epoch = in.text();
            frame.heartbeatMs = static_cast<int>(in.number());
            frame.clientId = in.text();
            break;
        case protocol::ServerFrameType::Subscribed:
            frame.cursor = in.text();
            frame.channels = in.texts();
            frame.byServer = in.flag();
            break;
        case protocol::ServerFrameType::Unsubscribed:
            frame.channels = in.texts();
            frame.byServer = in.flag();
            break;
        case protocol::ServerFrameType::Authorized: frame.expiresAt = static_cast<std::int64_t>(in.number()); break;
        default: break;
    }
    return frame;
}

protocol::Result<protocol::Envelope> envelope(std::string_view text) {
    Fields in(kEnvelope, text);
    if (auto error = in.failed()) return *error;
    protocol::Envelope out;
    in.envelope(out);
    return out;
}

protocol::Result<protocol::Gap> gap(std::string_view text) {
    Fields in(kGap, text);
    if (auto error = in.failed()) return *error;
    protocol::Gap out;
    in.gap(out);
    return out;
}

protocol::Result<protocol::PollResponse> pollResponse(std::string_view text) {
    Fields in(kPoll, text);
    if (auto error = in.failed()) return *error;
    protocol::PollResponse response;
    response.messages.resize(in.number());
    for (protocol::Envelope& message : response.messages) in.envelope(message);
    response.cursor = in.text();
    response.gaps.resize(in.number());
    for (protocol::Gap& gap : response.gaps) in.gap(gap);
    response.refused = in.refusals();
    response.more = in.flag();
    response.clientId = in.text();
    response.subscribed = in.texts();
    response.unsubscribed = in.texts();
    return response;
}

protocol::Result<protocol::ServerAction> serverAction(std::string_view text) {
    Fields in(kServerAction, text);
    if (auto error = in.failed()) return *error;
    protocol::ServerAction action;
    action.channels = in.texts();
    action.reconnect = in.flag();
    return action;
}

protocol::Result<protocol::ServerFrame> welcome(std::string_view text) {
    Fields in(kWelcome, text);
    if (auto error = in.failed()) return *error;
    protocol::ServerFrame frame;
    frame.type = protocol::ServerFrameType::Welcome;
    frame.epoch = in.text();
    frame.heartbeatMs = static_cast<int>(in.number());
    frame.clientId = in.text();
    return frame;
}

protocol::Result<protocol::PresenceAnswer> presenceAnswer(std::string_view text) {
    Fields in(kPresence, text);
    if (auto error = in.failed()) return *error;
    protocol::PresenceAnswer answer;
    const bool members = in.presence(answer);
    std::string_view clients = in.next();
    std::string_view users = in.next();
    if (!members) {
        if (clients.empty() || users.empty()) {
            return Error{ErrorCode::MissingField, "presence answer needs 'members', or 'clients' and 'users'"};
        }
        answer.stats = true;
        answer.clients = Fields::digits(clients);
        answer.users = Fields::digits(users);
    }
    return answer;
}

protocol::Result<protocol::PublishAck> publishAck(std::string_view text) {
    Fields in(kPublishAck, text);
    if (auto error = in.failed()) return *error;
    protocol::PublishAck ack;
    ack.seq = in.number();
    ack.channel = in.text();
    return ack;
}

protocol::Result<protocol::NegotiateInfo> negotiate(std::string_view text) {
    Fields in(kNegotiate, text);
    if (auto error = in.failed()) return *error;
    protocol::NegotiateInfo info;
    info.transports = in.texts();
    info.protocol = static_cast<int>(in.number());
    info.websocketUrl = in.text();
    info.heartbeatMs = static_cast<int>(in.number());
    info.epoch = in.text();
    info.maxMessageBytes = in.number();
    info.tokens = in.flag();
    return info;
}

std::optional<protocol::Error> errorBody(std::string_view text) {
    Fields in(kErrorBody, text);
    if (in.failed()) return std::nullopt;
    return in.error();
}

std::string errorChannel(std::string_view text) {
    Fields in(kErrorBody, text);
    if (in.failed()) return {};
    in.error();
    return in.text();
}

std::vector<protocol::Refusal> refusals(std::string_view text) {
    Fields in(kRefusals, text);
    if (in.failed()) return {};
    return in.refusals();
}

std::optional<std::int64_t> tokenExpiry(std::string_view jwt) {
    Fields in(kTokenExpiry, jwt);
    if (in.failed()) return std::nullopt;
    return static_cast<std::int64_t>(in.number());
}

}  // namespace pushwire::client::wire
