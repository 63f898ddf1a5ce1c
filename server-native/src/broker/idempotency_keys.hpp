// The memory broker's record of recent idempotency keys: for each (channel, key) published
// within the window, the seq and time of the message it stored, so that a publish repeating
// the key stores nothing and is answered with the first one's seq.
//
// Bounded: a key is forgotten at the end of its window, and at most `maxKeys` are held;
// past that the oldest goes first, before its window ends (counted: a repeat of it would
// then be stored again). A key costs about 150 bytes plus its channel's and its own
// length: 100,000 keys (the default) are about 20 MB at most.
//
// Threading: the loop thread.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>

namespace pushwire::server {

class IdempotencyKeys {
public:
    struct Stored {
        std::uint64_t seq = 0;
        std::int64_t timeMs = 0;
    };

    // `windowMs` 0: keys are not remembered (every publish is stored).
    IdempotencyKeys(std::int64_t windowMs, std::size_t maxKeys) : windowMs_(windowMs), maxKeys_(maxKeys) {}

    bool enabled() const { return windowMs_ > 0 && maxKeys_ > 0; }
    // The message stored with `key` on `channel` within the window, or null.
    const Stored* find(const std::string& channel, const std::string& key, std::int64_t nowMs) const;
    void remember(const std::string& channel, const std::string& key, Stored stored, std::int64_t nowMs);
    // Forgets the keys whose window ended.
    void sweep(std::int64_t nowMs);

    std::size_t size() const { return keys_.size(); }
    // Keys forgotten before their window ended, to stay within maxKeys.
    std::uint64_t forgottenEarly() const { return forgottenEarly_; }

private:
    struct Entry {
        Stored stored;
        std::int64_t expiresMs;
    };
    static std::string name(const std::string& channel, const std::string& key);
    void forgetOldest();

    std::int64_t windowMs_;
    std::size_t maxKeys_;
    // "channel\nkey" (no channel name holds a newline) -> what it stored.
    std::unordered_map<std::string, Entry> keys_;
    // The keys in the order they were stored, which is the order their windows end.
    // Pointers to the map's own key strings: nodes do not move when the map rehashes.
    std::deque<const std::string*> order_;
    std::uint64_t forgottenEarly_ = 0;
};

}  // namespace pushwire::server
