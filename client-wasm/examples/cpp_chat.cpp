// A C++ program built to WebAssembly that uses pushwire's C++ API directly: it
// subscribes to a channel, publishes a greeting, and shows what arrives on the page.
// Served by ./build.sh run at http://127.0.0.1:8080/example-cpp.html
#include <emscripten.h>

#include <memory>
#include <string>

#include "pushwire/client.hpp"

EM_JS(void, show_line, (const char* text), {
    var line = document.createElement('div');
    line.textContent = UTF8ToString(text);
    document.getElementById('log').appendChild(line);
});
EM_JS(void, page_origin, (char* buffer, int size), { stringToUTF8(location.origin, buffer, size); });

namespace {
std::unique_ptr<pushwire::Client> client;
pushwire::Subscription subscription;
}  // namespace

int main() {
    char origin[512];
    page_origin(origin, sizeof origin);
    client = std::make_unique<pushwire::Client>(origin);
    client->onStateChange([](pushwire::State state, const std::string& reason) {
        std::string line = std::string("state: ") + pushwire::toString(state);
        if (!reason.empty()) line += " (" + reason + ")";
        line += std::string(", transport: ") + pushwire::toString(client->transport());
        show_line(line.c_str());
        if (state == pushwire::State::Connected) {
            client->publish("cpp-demo", R"({"from":"C++","text":"hello from a wasm program"})",
                            [](std::optional<std::uint64_t> seq, const pushwire::Error* error) {
                                std::string line = seq ? "published as seq " + std::to_string(*seq)
                                                       : "publish failed: " + error->message;
                                show_line(line.c_str());
                            });
        }
    });
    pushwire::SubscribeOptions options;
    options.onGap = [](const pushwire::Gap& gap) {
        std::string line = "gap on " + gap.channel + " from " + std::to_string(gap.from);
        show_line(line.c_str());
    };
    subscription = client->subscribe(
        "cpp-demo",
        [](const pushwire::Message& m) {
            std::string line = "#" + std::to_string(m.seq) + " " + m.data;
            show_line(line.c_str());
        },
        options);
    return 0;
}
