// `pushwire`: the command line on the native client. `pushwire --help` is its manual.
#include <cstring>
#include <iostream>

#include "cli.hpp"

namespace {

const char* kHelp = R"(pushwire: subscribe to and publish on a pushwire server from a terminal or a script.

Usage:
  pushwire sub URL CHANNEL... [--since POS] [--transport T] [--token T | --token-file F]
                              [--position-file F] [--count N] [--verbose]
  pushwire pub URL CHANNEL [DATA | -] [--api-key-file F | --token T | --token-file F]
  pushwire history URL CHANNEL [--since POS] [--limit N] [--token T | --token-file F]
  pushwire presence URL CHANNEL [--stats | --follow [--transport T] [--verbose]]
                               [--token T | --token-file F]
  pushwire --help | --version

sub   Prints every message of the CHANNELs from now on (or from --since / the position
      file), in order and once each, across reconnects and server restarts, until
      interrupted (Ctrl-C, SIGTERM) or the reader of its output goes away (| head).
      One JSON object per line, for jq:
        {"channel":"chat","seq":12,"data":{"text":"hi"},"time":1795639801584}
      and, when messages were lost for good (the server no longer holds them, or its
      channel restarted), a gap:
        {"gap":{"channel":"chat","from":3,"to":9,"reason":"evicted"}}
      ("to" is null when unknown). State changes and errors go to stderr.
  --since POS         where to start: "0" the oldest message the server holds, or a
                      position saved earlier; default: from now
  --position-file F   read each channel's position from F at start (it wins over
                      --since) and write it after every line printed: run the same
                      command again and it resumes where it stopped, nothing lost
  --transport T       auto (default: WebSocket, then SSE, long polling, polling),
                      websocket, sse, longpoll or poll
  --token T           a token (JWT) for a server that needs one; --token-file F reads it
  --count N           ends (exit 0) after N messages; with --position-file, the next
                      run starts right after them (a reader that ends early, as
                      `| head`, may drop lines the command had already written)
  --verbose           also says on stderr which server and transport it connected to

pub   Publishes DATA, a JSON value (a word is a string only when quoted: '"hi"'), and
      prints its seq. With - (or no DATA): one message per line of stdin, in order, one
      seq per line out. A publish whose answer is lost or unknown is sent again with the
      same idempotency key, so it is stored once.
  --api-key-file F    the server's API key (its --api-key-file), as a backend publishes
  --token T           a token allowed to publish; --token-file F reads it

history  Prints what the server holds of CHANNEL (from the oldest, or after --since POS),
      as sub prints it, at most --limit N messages, and ends.

presence  Who is in CHANNEL, a presence channel (the server's --presence): each member
      (a connection subscribed to it) as one JSON line, then it ends:
        {"client":"9f86d081884c7d659a2feaa0c55ad015","user":"alice","info":{"name":"Alice"}}
      (user: the member's token's sub, "" when anonymous; info: its token's info claim).
      Reading it needs the right to subscribe to the channel; the command is no member.
  --stats             the numbers instead, exact at any size:
                        {"channel":"room","clients":3,"users":2}
  --follow            stays and prints the members now as joins, then every join and
                      leave as it comes (the server's --join-leave channels; elsewhere the
                      changes show after a reconnect), each once, across reconnects:
                        {"event":"join","channel":"room","member":{"client":"…","user":"alice","info":null}}
                        {"event":"leave","channel":"room","member":{…}}
                      until interrupted or its reader goes away. While it follows, the
                      command is a member itself (it subscribes); it does not print itself.
                      URL may be several (as for sub); --transport, --verbose as for sub.

URL is http://host:port or https://host[:port]; for sub (and presence --follow), several
separated by commas are servers sharing channels (a Redis broker), used in that order: on
one that fails the client moves to the next and resumes there.
  --ca-file F         (every command) https:// and wss:// servers are verified against
                      the CA certificates in F (PEM) instead of the system's; a server not
                      verified is never used: sub ends with exit 1, as the others do

Exit status: 0 done (sub, presence --follow: interrupted, or the reader went away); 1 the
server refused (a channel, a token, a publish), could not be reached (pub, history,
presence), or a publish failed; 2 a wrong command line.

Examples:
  pushwire sub http://127.0.0.1:8080 chat | jq -r .data.text
  pushwire sub http://127.0.0.1:8080 orders --position-file orders.pos
  echo '{"text":"hi"}' | pushwire pub http://127.0.0.1:8080 chat -
  pushwire pub http://127.0.0.1:8080 chat '"hello"' --api-key-file /etc/pushwire/api.key
  pushwire presence http://127.0.0.1:8080 room | jq -r .user
)";

}  // namespace

int main(int argc, char** argv) {
    using namespace pushwire::cli;
    if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
        (argc < 2 ? std::cerr : std::cout) << kHelp;
        return argc < 2 ? kExitUsage : kExitOk;
    }
    const std::string command = argv[1];
    if (command == "--version") {
        std::cout << "pushwire " << PUSHWIRE_VERSION << "\n";
        return kExitOk;
    }
    for (int i = 2; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
            std::cout << kHelp;
            return kExitOk;
        }
    }
    if (command == "sub") {
        auto args =
            parseArgs(argc, argv, 2,
                      {"--since", "--transport", "--token", "--token-file", "--position-file", "--count", "--ca-file"},
                      {"--verbose"});
        return args ? subCommand(*args) : kExitUsage;
    }
    if (command == "pub") {
        auto args = parseArgs(argc, argv, 2, {"--api-key-file", "--token", "--token-file", "--ca-file"}, {});
        return args ? pubCommand(*args) : kExitUsage;
    }
    if (command == "history") {
        auto args = parseArgs(argc, argv, 2, {"--since", "--limit", "--token", "--token-file", "--ca-file"}, {});
        return args ? historyCommand(*args) : kExitUsage;
    }
    if (command == "presence") {
        auto args = parseArgs(argc, argv, 2, {"--transport", "--token", "--token-file", "--ca-file"},
                              {"--stats", "--follow", "--verbose"});
        return args ? presenceCommand(*args) : kExitUsage;
    }
    complain("unknown command '" + command + "': give sub, pub, history or presence (see pushwire --help)");
    return kExitUsage;
}
