#include "auth/revocations.hpp"

namespace pushwire::server {

bool Revocations::revoke(const std::string& user, std::int64_t before, std::int64_t nowSeconds) {
    if (before + lifetime_ <= nowSeconds) return false;
    auto [it, added] = before_.emplace(user, before);
    if (!added && it->second < before) it->second = before;
    return true;
}

bool Revocations::revoked(const std::string& user, std::int64_t issuedAt) const {
    auto it = before_.find(user);
    return it != before_.end() && issuedAt < it->second;
}

std::int64_t Revocations::before(const std::string& user) const {
    auto it = before_.find(user);
    return it == before_.end() ? 0 : it->second;
}

void Revocations::sweep(std::int64_t nowSeconds) {
    for (auto it = before_.begin(); it != before_.end();) {
        it = it->second + lifetime_ <= nowSeconds ? before_.erase(it) : std::next(it);
    }
}

}  // namespace pushwire::server
