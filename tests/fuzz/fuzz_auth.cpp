// Fuzz target: what a client sends as credentials. The JWT verifier (base64url, the
// header and claims JSON, the algorithm choice, the dates and rights) and the access
// policy's reading of Authorization, the token query parameter and Cookie.
// Properties: nothing crashes or reads out of bounds (ASan+UBSan in ./build.sh test); a
// token verifies only as HS256 with the configured secret, and verifies the same way
// twice; every right of a verified token is a well-formed channel pattern; a caller gets
// a channel outside its rights never.
//
// Input: byte 0 picks what the rest is: even, a token; odd, "Authorization\nCookie".
#include <cstdint>
#include <cstdlib>
#include <string>

#include "auth/access_policy.hpp"
#include "auth/token_verifier.hpp"

using namespace pushwire::server;

namespace {

void require(bool holds) {
    if (!holds) std::abort();
}

const std::string kSecret = "fuzz-secret-0123456789abcdef0123";  // the seeds are signed with it
constexpr std::int64_t kNow = 1900000000;

AccessPolicy& policy() {
    static AccessPolicy* instance = [] {
        AccessOptions options;
        options.tokenSecret = kSecret;
        options.apiKey = "fuzz-api-key-0123456789";
        options.tokenCookie = "pw";
        std::string problem;
        options.publicSubscribe = ChannelPatterns::parse("news:*", &problem);
        return new AccessPolicy(options);
    }();
    return *instance;
}

void checkRights(const ChannelPatterns& rights) {
    for (const std::string& pattern : rights.patterns()) {
        std::string problem;
        require(ChannelPatterns::parse(pattern, &problem).has_value());
        require(pattern.find(',') == std::string::npos);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::string input(reinterpret_cast<const char*>(data + 1), size - 1);
    static TokenVerifier verifier(kSecret, "");
    if (data[0] % 2 == 0) {
        auto identity = verifier.verify(input, kNow);
        auto again = verifier.verify(input, kNow);
        require(static_cast<bool>(identity) == static_cast<bool>(again));
        if (identity) {
            require(input.size() <= TokenVerifier::kMaxTokenBytes);
            require(identity->expiresAt > kNow);
            checkRights(identity->subscribe);
            checkRights(identity->publish);
            // No rights, no channel.
            if (identity->subscribe.empty()) require(!identity->subscribe.matches("user:fuzz"));
        } else {
            require(!identity.error().message.empty());
        }
        return 0;
    }
    const std::size_t newline = input.find('\n');
    HttpRequest request;
    request.method = "GET";
    request.path = "/pushwire/sse";
    request.peer = "192.0.2.1";
    request.headers.emplace_back("Authorization", input.substr(0, newline));
    if (newline != std::string::npos) request.headers.emplace_back("Cookie", input.substr(newline + 1));
    auto caller = policy().identify(request, kNow * 1000);
    if (!caller) {
        require(!caller.error().message.empty());
        return 0;
    }
    // Nobody without rights reads a private channel; public ones are anyone's.
    require(!policy().checkSubscribe(*caller, "news:today"));
    if (caller->kind == Caller::Kind::Anonymous) require(policy().checkSubscribe(*caller, "user:fuzz").has_value());
    if (caller->kind == Caller::Kind::User) {
        require(policy().checkSubscribe(*caller, "user:fuzz").has_value() ==
                !caller->identity->subscribe.matches("user:fuzz"));
    }
    return 0;
}
