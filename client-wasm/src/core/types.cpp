// String forms of the public enums.
#include "pushwire/types.hpp"

namespace pushwire {

const char* toString(Transport transport) {
    switch (transport) {
        case Transport::Auto: return "auto";
        case Transport::WebSocket: return "websocket";
        case Transport::Sse: return "sse";
        case Transport::LongPoll: return "longpoll";
        case Transport::Poll: return "poll";
    }
    return "auto";
}

const char* toString(State state) {
    switch (state) {
        case State::Connecting: return "connecting";
        case State::Connected: return "connected";
        case State::Reconnecting: return "reconnecting";
        case State::Closed: return "closed";
        case State::Disconnected: return "disconnected";
    }
    return "closed";
}

std::optional<Transport> transportFromString(const std::string& name) {
    for (Transport t : {Transport::Auto, Transport::WebSocket, Transport::Sse, Transport::LongPoll, Transport::Poll}) {
        if (name == toString(t)) return t;
    }
    return std::nullopt;
}

}  // namespace pushwire
