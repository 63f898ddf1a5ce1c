#include "broker/idempotency_keys.hpp"

namespace pushwire::server {

std::string IdempotencyKeys::name(const std::string& channel, const std::string& key) {
    std::string out;
    out.reserve(channel.size() + 1 + key.size());
    out += channel;
    out += '\n';
    out += key;
    return out;
}

const IdempotencyKeys::Stored* IdempotencyKeys::find(const std::string& channel, const std::string& key,
                                                     std::int64_t nowMs) const {
    if (!enabled() || key.empty()) return nullptr;
    auto it = keys_.find(name(channel, key));
    if (it == keys_.end() || it->second.expiresMs <= nowMs) return nullptr;
    return &it->second.stored;
}

void IdempotencyKeys::remember(const std::string& channel, const std::string& key, Stored stored, std::int64_t nowMs) {
    if (!enabled() || key.empty()) return;
    sweep(nowMs);
    auto [it, added] = keys_.try_emplace(name(channel, key), Entry{stored, nowMs + windowMs_});
    if (!added) {
        // Its window had ended (find() said so) but the sweep had not come to it yet: it is
        // in order_ already, where it is forgotten in its turn.
        it->second = Entry{stored, nowMs + windowMs_};
        return;
    }
    order_.push_back(&it->first);
    while (keys_.size() > maxKeys_) {
        ++forgottenEarly_;
        forgetOldest();
    }
}

void IdempotencyKeys::forgetOldest() {
    // By iterator: the key given to erase() would be the erased node's own string.
    auto it = keys_.find(*order_.front());
    order_.pop_front();
    if (it != keys_.end()) keys_.erase(it);
}

void IdempotencyKeys::sweep(std::int64_t nowMs) {
    while (!order_.empty()) {
        auto it = keys_.find(*order_.front());
        if (it != keys_.end() && it->second.expiresMs > nowMs) return;
        forgetOldest();
    }
}

}  // namespace pushwire::server
