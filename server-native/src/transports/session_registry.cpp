#include "transports/session_registry.hpp"

namespace pushwire::server {

void SessionRegistry::add(const std::string& user, ControlledSession* session) {
    if (user.empty()) return;
    if (sessions_[user].insert(session).second) ++count_;
}

void SessionRegistry::remove(const std::string& user, ControlledSession* session) {
    auto it = sessions_.find(user);
    if (it == sessions_.end()) return;
    count_ -= it->second.erase(session);
    if (it->second.empty()) sessions_.erase(it);
}

std::vector<ControlledSession*> SessionRegistry::sessionsOf(std::string_view user) const {
    auto it = sessions_.find(user);
    if (it == sessions_.end()) return {};
    return std::vector<ControlledSession*>(it->second.begin(), it->second.end());
}

SessionRegistry::Poller& SessionRegistry::poller(const std::string& user, const std::string& session,
                                                 std::int64_t nowMs) {
    auto& sessions = pollers_[user];
    auto it = sessions.find(session);
    if (it == sessions.end()) {
        it = sessions.try_emplace(sessions.size() < kPollersPerUser ? session : std::string()).first;
    }
    it->second.lastSeenMs = nowMs;
    return it->second;
}

SessionRegistry::Poller* SessionRegistry::findPoller(std::string_view user, const std::string& session) {
    auto it = pollers_.find(user);
    if (it == pollers_.end()) return nullptr;
    auto found = it->second.find(session);
    return found == it->second.end() ? nullptr : &found->second;
}

std::vector<std::pair<std::string, SessionRegistry::Poller*>> SessionRegistry::pollersOf(std::string_view user,
                                                                                         std::int64_t nowMs) {
    std::vector<std::pair<std::string, Poller*>> out;
    auto it = pollers_.find(user);
    if (it == pollers_.end()) return out;
    for (auto& [session, poller] : it->second) {
        if (poller.polls && poller.lastSeenMs + kPollerLingerMs > nowMs) out.emplace_back(session, &poller);
    }
    return out;
}

void SessionRegistry::sweep(std::int64_t nowMs) {
    for (auto user = pollers_.begin(); user != pollers_.end();) {
        auto& sessions = user->second;
        for (auto it = sessions.begin(); it != sessions.end();) {
            const Poller& poller = it->second;
            const bool gone = poller.lastSeenMs + kPollerLingerMs <= nowMs && poller.disconnectedUntilMs <= nowMs;
            it = gone ? sessions.erase(it) : std::next(it);
        }
        user = sessions.empty() ? pollers_.erase(user) : std::next(user);
    }
}

}  // namespace pushwire::server
