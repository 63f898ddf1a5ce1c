// A publish that can be retried safely, against the real server and a real redis-server:
// the same idempotency key on the same channel stores once and answers the first seq, on
// every node; an error answer says truthfully whether the message may have been stored
// (broker_unavailable: certainly not; publish_outcome_unknown: maybe); and the NDJSON
// batch publish answers line by line.
#include <atomic>
#include <catch2/catch.hpp>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "harness.hpp"
#include "server_process.hpp"
#include "support/redis_server.hpp"

using namespace pushwire::test;
using nlohmann::json;

namespace idempotency_test {

namespace {

struct Bystander {
    explicit Bystander(ServerProcess& s) : server(s), sse(s.httpPort(), "/pushwire/sse?channel=calm") {}
    void stillWorks() {
        REQUIRE(server.alive());
        const std::uint64_t seq = publish(server, "calm", R"("ok")");
        CHECK(sse.waitFor(seq).size() == seq);
    }
    ServerProcess& server;
    SseClient sse;
};

struct Answer {
    int status = 0;  // 0: no answer
    json body;
    std::string code() const {
        return body.is_object() && body.contains("error") ? body["error"].value("code", "") : "";
    }
    std::uint64_t seq() const { return body.is_object() ? body.value("seq", std::uint64_t{0}) : 0; }
    bool repeated() const { return body.is_object() && body.value("repeated", false); }
};

Answer post(httplib::Client& client, const json& body, const std::string& contentType = "application/json") {
    auto response =
        client.Post("/pushwire/publish", body.is_string() ? body.get<std::string>() : body.dump(), contentType.c_str());
    if (!response) return {};
    return Answer{response->status, json::parse(response->body, nullptr, false)};
}

json keyed(const std::string& channel, const json& data, const std::string& key) {
    return {{"channel", channel}, {"data", data}, {"idempotency_key", key}};
}

// The messages a channel holds, oldest first (poll from 0, every page).
std::vector<json> history(const ServerProcess& server, const std::string& channel) {
    auto client = server.client();
    std::vector<json> out;
    std::string since = "0";
    for (int page = 0; page < 100; ++page) {
        auto response = client.Get(("/pushwire/poll?channel=" + channel + "&since=" + since).c_str());
        if (!response || response->status != 200) break;
        json answer = json::parse(response->body);
        for (const json& message : answer["messages"]) out.push_back(message);
        since = answer["cursor"].get<std::string>();
        if (!answer["more"].get<bool>()) break;
    }
    return out;
}

bool healthy(const ServerProcess& server) {
    auto response = server.client().Get("/pushwire/healthz");
    return response && response->status == 200;
}

}  // namespace

TEST_CASE("Redis frozen while publishes flow: each publish retried with its key is stored once and delivered once") {
    RedisServer redis;
    ServerProcess node({"--broker", redis.url()});
    REQUIRE(eventually([&] { return healthy(node); }));
    Bystander bystander(node);
    SseClient subscriber(node.httpPort(), "/pushwire/sse?channel=idem");
    REQUIRE(subscriber.waitFor(1, "welcome").size() == 1);
    constexpr int kPublishers = 4, kEach = 40, kPublishes = kPublishers * kEach;
    std::vector<std::vector<Answer>> attempts(kPublishes);
    std::atomic<int> answered{0}, unknown{0};
    // Four publishers, each publish once, several in flight at a time, while the test
    // freezes Redis under them.
    std::vector<std::thread> publishers;
    for (int p = 0; p < kPublishers; ++p) {
        publishers.emplace_back([&, p] {
            auto client = node.client();
            client.set_tcp_nodelay(true);
            for (int i = p * kEach; i < (p + 1) * kEach; ++i) {
                const std::string key = "key-" + std::to_string(i);
                attempts[i].push_back(post(client, keyed("idem", {{"k", key}}, key)));
                if (attempts[i].back().code() == "publish_outcome_unknown") ++unknown;
                ++answered;
                std::this_thread::sleep_for(10ms);
            }
        });
    }
    REQUIRE(eventually([&] { return answered >= 40; }));
    redis.pause();  // SIGSTOP: connections stay open, nothing is answered
    // Frozen until the publishes already sent have run into the command timeout (and later
    // ones are refused before being sent).
    const bool sawUnknown = eventually([&] { return unknown >= kPublishers; });
    CHECK(eventually([&] { return !healthy(node); }));
    // Refused while the broker is down: certainly not stored, whatever happens next.
    auto probe = node.client();
    const Answer refusedProbe = post(probe, keyed("idem-probe", "never", "probe-key"));
    redis.resume();
    for (std::thread& publisher : publishers) publisher.join();
    REQUIRE(sawUnknown);
    REQUIRE(eventually([&] { return healthy(node); }));
    // Every publish that did not get a seq is sent again with its key until it does.
    auto client = node.client();
    for (int i = 0; i < kPublishes; ++i) {
        const std::string key = "key-" + std::to_string(i);
        for (int retry = 0; attempts[i].back().status != 200 && retry < 100; ++retry) {
            std::this_thread::sleep_for(100ms);
            attempts[i].push_back(post(client, keyed("idem", {{"k", key}}, key)));
        }
        REQUIRE(attempts[i].back().status == 200);
    }
    std::map<std::string, std::uint64_t> seqOfKey;
    int retried = 0, neverSentFirst = 0, storedThoughUnanswered = 0;
    for (int i = 0; i < kPublishes; ++i) {
        const std::string key = "key-" + std::to_string(i);
        seqOfKey[key] = attempts[i].back().seq();
        if (attempts[i].size() == 1) continue;
        ++retried;
        bool maybeStored = false;
        for (std::size_t a = 0; a + 1 < attempts[i].size(); ++a) {
            INFO(key << " attempt " << a << ": " << attempts[i][a].status << " " << attempts[i][a].body.dump());
            // Every failure says what it means: not stored (503), or maybe (504).
            const std::string code = attempts[i][a].code();
            CHECK((code == "broker_unavailable" || code == "publish_outcome_unknown"));
            CHECK(attempts[i][a].status == (code == "broker_unavailable" ? 503 : 504));
            maybeStored = maybeStored || code == "publish_outcome_unknown";
        }
        // Only broker_unavailable before: it had not been stored, so the retry stored it.
        if (!maybeStored) {
            ++neverSentFirst;
            CHECK_FALSE(attempts[i].back().repeated());
        }
        // Stored by Redis once it woke, though its publisher got no seq: the key answers it.
        if (attempts[i].back().repeated()) ++storedThoughUnanswered;
    }
    INFO(retried << " publishes retried, " << neverSentFirst << " of them only ever refused before, "
                 << storedThoughUnanswered << " stored though their first answer was an error");
    CHECK(retried > 0);
    CHECK(storedThoughUnanswered > 0);  // what a retry without the key would have stored twice
    // The subscriber gets every key exactly once, with the seq its publish was answered.
    std::set<std::uint64_t> seqs;
    for (const auto& [key, seq] : seqOfKey) seqs.insert(seq);
    CHECK(seqs.size() == kPublishes);
    const std::uint64_t last = *seqs.rbegin();
    CHECK(last == kPublishes);  // nothing stored twice
    auto events = subscriber.waitFor(kPublishes, "", 30s);
    REQUIRE(events.size() >= kPublishes);
    std::map<std::string, int> deliveries;
    for (const SseEvent& event : events) {
        json message = json::parse(event.data);
        const std::string key = message["data"]["k"];
        ++deliveries[key];
        CHECK(message["seq"].get<std::uint64_t>() == seqOfKey[key]);
    }
    CHECK(deliveries.size() == kPublishes);
    for (const auto& [key, count] : deliveries) CHECK(count == 1);
    // The publish refused while Redis was frozen was not stored.
    if (refusedProbe.code() == "broker_unavailable") CHECK(history(node, "idem-probe").empty());
    bystander.stillWorks();
}

TEST_CASE("the same idempotency key on two nodes sharing Redis gives one seq, and stores one message") {
    RedisServer redis;
    ServerProcess a({"--broker", redis.url()});
    ServerProcess b({"--broker", redis.url()});
    REQUIRE(eventually([&] { return healthy(a) && healthy(b); }));
    Bystander bystander(a);
    auto onA = a.client();
    auto onB = b.client();
    const Answer first = post(onA, keyed("shared", "first", "order-17"));
    REQUIRE(first.status == 200);
    CHECK_FALSE(first.repeated());
    const Answer again = post(onB, keyed("shared", "second try", "order-17"));
    REQUIRE(again.status == 200);
    CHECK(again.seq() == first.seq());
    CHECK(again.repeated());
    // Another channel, or another key: a message of its own.
    CHECK(post(onB, keyed("other", "x", "order-17")).seq() == 1);
    CHECK(post(onB, keyed("shared", "third", "order-18")).seq() == first.seq() + 1);
    // Both forms of batch and the WebSocket frame keep the key too, on either node.
    const Answer channels =
        post(onA, json{{"channels", {"shared", "other"}}, {"data", "batch"}, {"idempotency_key", "order-17"}});
    REQUIRE(channels.status == 200);
    CHECK(channels.body["results"][0]["seq"] == first.seq());
    CHECK(channels.body["results"][1]["seq"] == 1);
    const std::string lines = keyed("shared", "line", "order-18").dump() + "\n" +
                              keyed("shared", "line", "order-19").dump() + "\n" +
                              keyed("shared", "line", "order-19").dump() + "\n";
    auto response = onB.Post("/pushwire/publish", lines, "application/x-ndjson");
    REQUIRE(response);
    REQUIRE(response->status == 200);
    CHECK(response->get_header_value("Content-Type") == "application/x-ndjson");
    std::vector<json> answers;
    for (std::size_t start = 0, end; (end = response->body.find('\n', start)) != std::string::npos; start = end + 1) {
        answers.push_back(json::parse(response->body.substr(start, end - start)));
    }
    REQUIRE(answers.size() == 3);
    CHECK(answers[0]["seq"] == first.seq() + 1);  // order-18, answered by its first
    CHECK(answers[1]["seq"] == first.seq() + 2);  // order-19, new
    CHECK(answers[2]["seq"] == first.seq() + 2);  // order-19 again, in the same batch
    WsClient ws(a.wsUrl());
    ws.send(R"({"type":"publish","channel":"shared","data":"ws","idempotency_key":"order-19","id":5})");
    const std::string ack = ws.waitFor([](const std::string& f) { return field(f, "type") == "ack"; });
    CHECK(field(ack, "seq") == std::to_string(first.seq() + 2));
    CHECK(field(ack, "repeated") == "true");
    const auto held = history(b, "shared");
    REQUIRE(held.size() == 3);  // first, third (order-18), line (order-19)
    CHECK(held[0]["data"] == "first");
    CHECK(held[1]["data"] == "third");
    CHECK(held[2]["data"] == "line");
    // The key is kept in Redis with the window as its expiry.
    const std::string ttl = redis.cli({"PTTL", "pushwire:{shared}:k:order-17"});
    CHECK(std::stoll(ttl) > 250000);
    CHECK(std::stoll(ttl) <= 300000);
    bystander.stillWorks();
}

TEST_CASE("the memory broker keeps keys for the window, bounded, and the NDJSON batch answers line by line") {
    ServerProcess server({"--idempotency-window", "1", "--max-idempotency-keys", "3", "--max-batch-bytes", "4096",
                          "--max-message-bytes", "100"});
    Bystander bystander(server);
    auto client = server.client();
    const Answer first = post(client, keyed("m", 1, "k1"));
    CHECK(post(client, keyed("m", 2, "k1")).seq() == first.seq());
    // The window ends: the key is stored anew.
    CHECK(eventually([&] { return post(client, keyed("m", 3, "k1")).seq() != first.seq(); }, 10s));
    // At most 3 keys: a fourth pushes the oldest out (before its window ends).
    for (const char* key : {"a", "b", "c", "d"}) post(client, keyed("n", key, key));
    CHECK(post(client, keyed("n", "again", "a")).seq() == 5);                                // forgotten: stored again
    CHECK(post(client, keyed("n", "again", "d")).repeated());                                // still known
    const std::string lines = keyed("p", 1, "x1").dump() + "\n" +                            // stored
                              "\n" +                                                         // an empty line
                              R"({"channel":"p","data":)" + std::string(120, '1') + "}\n" +  // too large
                              R"({"channel":"bad name","data":1})" + "\n" +                  // a bad channel
                              R"({"channel":"p","data":2,"extra":1})" + "\n" +               // an unknown field
                              keyed("p", 3, std::string(65, 'k')).dump() + "\n" +            // a key too long
                              keyed("p", 4, "x1").dump();  // repeated, no newline at the end
    auto response = client.Post("/pushwire/publish", lines, "application/x-ndjson");
    REQUIRE(response);
    REQUIRE(response->status == 200);
    std::vector<json> answers;
    for (std::size_t start = 0, end; (end = response->body.find('\n', start)) != std::string::npos; start = end + 1) {
        answers.push_back(json::parse(response->body.substr(start, end - start)));
    }
    REQUIRE(answers.size() == 7);
    CHECK(answers[0]["seq"] == 1);
    CHECK(answers[1]["error"]["code"] == "bad_json");
    CHECK(answers[2]["error"]["code"] == "too_large");
    CHECK(answers[3]["error"]["code"] == "bad_channel");
    CHECK(answers[4]["error"]["code"] == "unknown_field");
    CHECK(answers[5]["error"]["code"] == "bad_request");
    CHECK(answers[6]["seq"] == 1);
    CHECK(answers[6]["repeated"] == true);
    CHECK(history(server, "p").size() == 1);
    // Past --max-batch-bytes the body is refused whole; the other forms keep their limit.
    std::string big;
    while (big.size() <= 4096) big += keyed("p", 1, "z").dump() + "\n";
    auto tooBig = client.Post("/pushwire/publish", big, "application/x-ndjson");
    REQUIRE(tooBig);
    CHECK(tooBig->status == 413);
    auto plain = client.Post("/pushwire/publish", big, "application/json");
    REQUIRE(plain);
    CHECK(plain->status == 413);
    bystander.stillWorks();
}

}  // namespace idempotency_test
