// The native client in a C++ program (docs/cpp.md): subscribes to a channel from the
// oldest held message, publishes COUNT messages on it, prints each message as it arrives
// and ends once it has read its own COUNT. tests/cpp_example_check.sh installs the package,
// builds this folder with find_package(pushwire) and runs it.
//
//   chat_example http://127.0.0.1:8080 chat 3
#include <asio/io_context.hpp>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

#include "pushwire/client.hpp"

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: chat_example URL CHANNEL COUNT\n");
        return 2;
    }
    const std::string channel = argv[2];
    const int count = std::atoi(argv[3]);
    asio::io_context io;
    pushwire::Client client(io, argv[1]);
    int status = 0, received = 0;

    pushwire::SubscribeOptions options;
    options.since = "0";  // from the oldest message held; a saved sub.position() resumes after it
    options.onGap = [](const pushwire::Gap& gap) {
        std::printf("gap in %s from %llu (%s)\n", gap.channel.c_str(), static_cast<unsigned long long>(gap.from),
                    gap.reason.c_str());
    };
    options.onError = [&](const pushwire::Error& error) {
        std::fprintf(stderr, "refused: %s: %s\n", error.code.c_str(), error.message.c_str());
        status = 1;
        client.close();
        io.stop();
    };
    pushwire::Subscription sub = client.subscribe(
        channel,
        [&](const pushwire::Message& message) {
            std::printf("%s #%llu %s\n", message.channel.c_str(), static_cast<unsigned long long>(message.seq),
                        message.data.c_str());
            std::fflush(stdout);
            if (++received == count) {
                client.close();
                io.stop();
            }
        },
        options);

    // Publishes made after subscribe() wait for the subscription's position: they arrive.
    // Each after the previous one's answer, so that their seqs follow their order
    // (publishes in flight together may be stored in any order).
    int published = 0;
    std::function<void()> publishNext = [&] {
        if (++published > count) return;
        client.publish(channel, "{\"n\":" + std::to_string(published) + "}",
                       [&](std::optional<std::uint64_t>, const pushwire::Error* error) {
                           if (!error) {
                               publishNext();
                               return;
                           }
                           if (received == count) return;  // all read back; closed before this answer
                           std::fprintf(stderr, "publish failed: %s\n", error->message.c_str());
                           status = 1;
                           client.close();
                           io.stop();
                       });
    };
    publishNext();
    io.run();  // or on a thread of yours: every callback runs there
    return status;
}
