#include "support/bystander.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

namespace pushwire::test {

Bystander::Bystander(ServerProcess& server) : Bystander(server, "calm", "", {}) {}

Bystander::Bystander(ServerProcess& server, std::string channel, const std::string& query,
                     httplib::Headers publishHeaders)
    : server_(server),
      channel_(std::move(channel)),
      publishHeaders_(std::move(publishHeaders)),
      sse_(server.httpPort(), "/pushwire/sse?channel=" + channel_ + query) {
    REQUIRE(sse_.status() == 200);
}

void Bystander::stillWorks() {
    REQUIRE(server_.alive());
    auto client = server_.client();
    const nlohmann::json body = {{"channel", channel_}, {"data", "ok"}};
    auto response = client.Post("/pushwire/publish", publishHeaders_, body.dump(), "application/json");
    REQUIRE(response);
    INFO(response->body);
    REQUIRE(response->status == 200);
    const auto seq = nlohmann::json::parse(response->body)["seq"].get<std::uint64_t>();
    const auto events = sse_.waitFor(seq);
    std::vector<std::uint64_t> seqs;
    for (const SseEvent& event : events) {
        auto envelope = nlohmann::json::parse(event.data, nullptr, false);
        seqs.push_back(envelope.is_object() && envelope.contains("seq") ? envelope["seq"].get<std::uint64_t>() : 0);
    }
    std::vector<std::uint64_t> expected;
    for (std::uint64_t i = 1; i <= seq; ++i) expected.push_back(i);
    CHECK(seqs == expected);
}

}  // namespace pushwire::test
