// Revoked users: the server API's `revoke {user, before}` makes every token of `user`
// issued before `before` (its `iat`, seconds) refused from then on (401 token_revoked).
//
// A revocation is kept until `before` is older than the longest token lifetime the
// server accepts (--max-token-lifetime, L): every token issued before `before` has
// expired by then (AccessPolicy refuses tokens whose exp - iat exceeds L), so forgetting
// it lets nothing back in. A token without `iat` counts as issued at exp - L, the
// earliest it could have been issued under that rule.
//
// With a Redis broker the same revocations are stored in Redis (api/cluster_control.hpp)
// and copied here on every node; this class is what each node checks, in memory.
//
// Threading: the loop thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace pushwire::server {

class Revocations {
public:
    explicit Revocations(std::int64_t maxTokenLifetimeSeconds) : lifetime_(maxTokenLifetimeSeconds) {}

    std::int64_t maxTokenLifetime() const { return lifetime_; }
    // The iat a token is taken to have: its own, else exp - L.
    std::int64_t issuedAt(const std::int64_t* iat, std::int64_t exp) const { return iat ? *iat : exp - lifetime_; }

    // Tokens of `user` issued before `before` are refused. A later revocation with an
    // earlier `before` does not shorten an earlier one. False when it is already past
    // keeping (before + L <= now): nothing it could refuse is still valid.
    bool revoke(const std::string& user, std::int64_t before, std::int64_t nowSeconds);
    // Whether a token of `user` issued at `issuedAt` is revoked.
    bool revoked(const std::string& user, std::int64_t issuedAt) const;
    // The `before` of `user`'s revocation, 0 when none.
    std::int64_t before(const std::string& user) const;
    // Forgets revocations past keeping. Called about once a second.
    void sweep(std::int64_t nowSeconds);
    std::size_t size() const { return before_.size(); }

private:
    std::int64_t lifetime_;
    std::map<std::string, std::int64_t, std::less<>> before_;  // user -> before
};

}  // namespace pushwire::server
