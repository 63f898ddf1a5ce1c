#include "app/options.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "auth/address_ranges.hpp"
#include "auth/channel_patterns.hpp"

namespace pushwire::server {
namespace {

bool toNumber(const std::string& text, long long min, long long max, long long& out) {
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && ptr == text.data() + text.size() && out >= min && out <= max;
}

// The items of a comma-separated flag value, empty ones included ("a,,b" has three);
// each flag says what an empty or a bad item means.
std::vector<std::string> commaList(const std::string& value) {
    std::vector<std::string> items;
    std::size_t start = 0;
    while (start <= value.size()) {
        std::size_t comma = value.find(',', start);
        if (comma == std::string::npos) comma = value.size();
        items.push_back(value.substr(start, comma - start));
        start = comma + 1;
    }
    return items;
}

// Flags that take a value, and switches.
const char* const kValued[] = {"--host",
                               "--port",
                               "--ws-port",
                               "--web-root",
                               "--public-ws-url",
                               "--trust-proxy",
                               "--history",
                               "--heartbeat-ms",
                               "--longpoll-timeout-ms",
                               "--drain-ms",
                               "--log-level",
                               "--log-format",
                               "--max-message-bytes",
                               "--max-connections",
                               "--transports",
                               "--request-timeout-ms",
                               "--send-timeout-ms",
                               "--socket-send-buffer",
                               "--broker",
                               "--broker-prefix",
                               "--broker-password",
                               "--broker-password-file",
                               "--broker-sentinel-password",
                               "--broker-sentinel-password-file",
                               "--broker-tls-ca",
                               "--broker-tls-cert",
                               "--broker-tls-key",
                               "--broker-wait",
                               "--broker-wait-timeout-ms",
                               "--token-secret-file",
                               "--token-public-key-file",
                               "--token-cookie",
                               "--api-key-file",
                               "--public-subscribe",
                               "--public-publish",
                               "--allowed-origins",
                               "--tls-cert",
                               "--tls-key",
                               "--max-connections-per-ip",
                               "--publish-rate",
                               "--max-channels",
                               "--max-history-bytes",
                               "--channel-ttl",
                               "--max-channels-per-connection",
                               "--io-uring",
                               "--idempotency-window",
                               "--channel-linger-ms",
                               "--max-idempotency-keys",
                               "--max-batch-bytes",
                               "--metrics-allow",
                               "--presence",
                               "--join-leave",
                               "--presence-ttl",
                               "--presence-grace-ms",
                               "--max-presence-members",
                               "--max-token-lifetime"};
const char* const kSwitches[] = {"--web-follow-symlinks", "--serve-dotfiles", "--reuse-port", "--access-log",
                                 "--print-config"};

// Levenshtein distance of two names, '_' and '-' and case alike.
std::size_t distance(std::string a, std::string b) {
    auto fold = [](std::string& text) {
        for (char& c : text) c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    };
    fold(a);
    fold(b);
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

}  // namespace

std::string closestOption(const std::string& flag) {
    std::string best;
    std::size_t bestDistance = std::max<std::size_t>(2, flag.size() / 5) + 1;
    auto consider = [&](const char* known) {
        const std::size_t d = distance(flag, known);
        if (d < bestDistance) {
            bestDistance = d;
            best = known;
        }
    };
    for (const char* known : kValued) consider(known);
    for (const char* known : kSwitches) consider(known);
    return best;
}

namespace {
std::optional<std::string> parseOneBrokerUrl(const std::string& text, BrokerOptions& out);

// "host", "host:port", "[v6]" or "[v6]:port" → host (brackets stripped) and port; false
// for anything else (a host name holds letters, digits, '.', '-' and '_' only).
bool splitHostPort(const std::string& text, std::string& host, long long& port) {
    std::string rest = text;
    std::string portText;
    if (!rest.empty() && rest.front() == '[') {
        const auto close = rest.find(']');
        if (close == std::string::npos || close == 1) return false;
        host = rest.substr(1, close - 1);
        if (host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string::npos) return false;
        if (close + 1 < rest.size()) {
            if (rest[close + 1] != ':') return false;
            portText = rest.substr(close + 2);
            if (portText.empty()) return false;
        }
    } else {
        const auto colon = rest.rfind(':');
        if (colon != std::string::npos) {
            portText = rest.substr(colon + 1);
            rest = rest.substr(0, colon);
        }
        host = rest;
        const auto allowed = [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
        };
        if (host.empty() || !std::all_of(host.begin(), host.end(), allowed)) return false;
    }
    return portText.empty() || toNumber(portText, 1, 65535, port);
}
}  // namespace

// memory; one redis://; several, comma-separated (independent shards); or
// redis+cluster://seed[,seed...] (each seed host:port, or redis[s]://[user:password@]host:port),
// rediss+cluster:// for TLS (its seeds host:port or rediss://...). A cluster's seeds are all TLS
// or none: the masters found are reached as the seeds are.
std::optional<std::string> parseBrokerUrl(const std::string& text, BrokerOptions& out) {
    const bool tlsCluster = text.rfind("rediss+cluster://", 0) == 0;
    const std::string clusterScheme = tlsCluster ? "rediss+cluster://" : "redis+cluster://";
    const bool cluster = text.rfind(clusterScheme, 0) == 0;
    // A Sentinel URL lists its sentinels with commas: one broker.
    const bool sentinel = text.rfind("redis+sentinel://", 0) == 0 || text.rfind("rediss+sentinel://", 0) == 0;
    if (!cluster && (sentinel || text.find(',') == std::string::npos)) {
        out.shards.clear();
        out.cluster = false;
        return parseOneBrokerUrl(text, out);
    }
    std::vector<BrokerOptions> parts;
    std::string rest = cluster ? text.substr(clusterScheme.size()) : text;
    for (std::size_t start = 0;;) {
        const std::size_t comma = rest.find(',', start);
        std::string item = rest.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (cluster && item.rfind("redis://", 0) != 0 && item.rfind("rediss://", 0) != 0) {
            item = (tlsCluster ? "rediss://" : "redis://") + item;
        }
        BrokerOptions one = out;
        one.shards.clear();
        if (item == "memory" || item == "redis://" || item == "rediss://")
            return "--broker: the list has an empty or memory part";
        if (auto problem = parseOneBrokerUrl(item, one)) return problem;
        if (cluster && one.db != 0) return "--broker: a Redis Cluster has only database 0, got '" + item + "'";
        if (cluster && (tlsCluster ? !one.tls : !parts.empty() && parts.front().tls != one.tls)) {
            return std::string("--broker: the seeds of a Redis Cluster are all TLS (") +
                   (tlsCluster ? "rediss+cluster://" : "rediss://") + ") or none: " + one.host + ":" +
                   std::to_string(one.port) + (one.tls ? " is TLS, the first seed not" : " is not TLS");
        }
        for (const BrokerOptions& before : parts) {
            if (before.host == one.host && before.port == one.port && before.db == one.db) {
                return "--broker: " + one.host + ":" + std::to_string(one.port) + "/" + std::to_string(one.db) +
                       " is listed twice";
            }
        }
        parts.push_back(std::move(one));
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    if (!cluster && parts.size() > 1024) return "--broker: at most 1024 shards";
    BrokerOptions first = parts.front();
    out.kind = BrokerOptions::Kind::Redis;
    out.host = first.host;
    out.port = first.port;
    out.user = first.user;
    out.password = first.password;
    out.db = first.db;
    out.tls = first.tls;
    out.cluster = cluster;
    out.shards = std::move(parts);
    if (!cluster && out.shards.size() == 1) out.shards.clear();
    return std::nullopt;
}

namespace {
std::optional<std::string> parseOneBrokerUrl(const std::string& text, BrokerOptions& out) {
    if (text == "memory") {
        out.kind = BrokerOptions::Kind::Memory;
        return std::nullopt;
    }
    // The URL may hold a password: no error repeats it.
    std::string shown = text;
    if (auto at = shown.rfind('@'); at != std::string::npos) {
        const auto start = shown.find("://");
        if (start != std::string::npos && start < at) shown = shown.substr(0, start + 3) + "***" + shown.substr(at);
    }
    const std::string expected = "expected memory or redis[s]://[[user]:password@]host:port[/db], got '" + shown + "'";
    std::string rest;
    out.sentinels.clear();
    out.masterName.clear();
    if (text.rfind("redis+sentinel://", 0) == 0 || text.rfind("rediss+sentinel://", 0) == 0) {
        // redis[s]+sentinel://[[user]:password@]host:port[,host:port...]/MASTER-NAME (rediss:
        // TLS to the sentinels and to the master)
        const std::string sentinelExpected =
            "expected redis[s]+sentinel://[[user]:password@]host:port[,host:port...]/MASTER-NAME, got '" + shown + "'";
        out.tls = text.rfind("rediss+", 0) == 0;
        rest = text.substr(out.tls ? 18 : 17);
        out.kind = BrokerOptions::Kind::Redis;
        if (auto at = rest.rfind('@'); at != std::string::npos) {
            std::string auth = rest.substr(0, at);
            rest = rest.substr(at + 1);
            const auto colon = auth.find(':');
            out.user = colon == std::string::npos ? std::string() : auth.substr(0, colon);
            // "user:@": the password comes from elsewhere (PUSHWIRE_BROKER_PASSWORD, a file).
            const std::string password = colon == std::string::npos ? auth : auth.substr(colon + 1);
            if (!password.empty()) out.password = password;
        }
        const auto slash = rest.find('/');
        if (slash == std::string::npos || slash + 1 >= rest.size())
            return "--broker: no master name; " + sentinelExpected;
        out.masterName = rest.substr(slash + 1);
        if (out.masterName.find_first_of("/ \t") != std::string::npos) {
            return "--broker: bad master name; " + sentinelExpected;
        }
        std::string list = rest.substr(0, slash);
        for (std::size_t start = 0; start <= list.size();) {
            std::size_t comma = list.find(',', start);
            if (comma == std::string::npos) comma = list.size();
            const std::string item = list.substr(start, comma - start);
            long long port = 26379;
            std::string host;
            if (!splitHostPort(item, host, port)) return "--broker: bad host or port; " + sentinelExpected;
            out.sentinels.emplace_back(host, static_cast<int>(port));
            start = comma + 1;
        }
        out.host = out.sentinels.front().first;  // until a sentinel names the master
        out.port = out.sentinels.front().second;
        out.db = 0;
        return std::nullopt;
    }
    if (text.rfind("redis://", 0) == 0) {
        rest = text.substr(8);
        out.tls = false;
    } else if (text.rfind("rediss://", 0) == 0) {
        rest = text.substr(9);
        out.tls = true;
    } else {
        return "--broker: " + expected;
    }
    out.kind = BrokerOptions::Kind::Redis;
    if (auto at = rest.rfind('@'); at != std::string::npos) {
        std::string auth = rest.substr(0, at);
        rest = rest.substr(at + 1);
        // user:password, :password, or (as before ACL users) password alone.
        // "user:@": the password comes from elsewhere (PUSHWIRE_BROKER_PASSWORD, a file).
        if (auto colon = auth.find(':'); colon != std::string::npos) {
            out.user = auth.substr(0, colon);
            if (colon + 1 < auth.size()) out.password = auth.substr(colon + 1);
        } else {
            out.user.clear();
            out.password = auth;
        }
    }
    if (auto slash = rest.find('/'); slash != std::string::npos) {
        long long db = 0;
        if (!toNumber(rest.substr(slash + 1), 0, 1000, db)) return "--broker: bad database number; " + expected;
        out.db = static_cast<int>(db);
        rest = rest.substr(0, slash);
    }
    long long port = 6379;
    std::string host;
    if (!splitHostPort(rest, host, port)) return "--broker: bad host or port; " + expected;
    out.host = host;
    out.port = static_cast<int>(port);
    return std::nullopt;
}
}  // namespace

// The first line of a password file, without its line end.
std::optional<std::string> readPasswordFile(const std::string& path, std::string& out, const char* flag) {
    std::ifstream file(path);
    if (!file) return std::string(flag) + " " + path + ": cannot read it";
    std::getline(file, out);
    while (!out.empty() && (out.back() == '\r' || out.back() == '\n')) out.pop_back();
    if (out.empty()) return std::string(flag) + " " + path + ": its first line is empty";
    return std::nullopt;
}

std::string usage() {
    return R"(pushwire-server: real-time push over WebSocket, SSE, long polling and polling

Usage: pushwire-server [options]

  --host HOST                 address to listen on (default 127.0.0.1)
  --port PORT                 HTTP port (default 8080; 0 picks a free one)
  --ws-port PORT              a second port for WebSocket only (default: none; WebSocket
                              is served on the HTTP port, at /pushwire/ws)
  --web-root DIR              serve the regular files below DIR at / (GET and HEAD;
                              nothing under /pushwire/; a symbolic link is followed
                              only while its target stays inside DIR); text gzipped on
                              the fly and kept, assets/*-HASH.* cached a year (immutable),
                              the rest revalidated (ETag, Last-Modified)
  --web-follow-symlinks       also follow links that lead out of --web-root
  --serve-dotfiles            also serve files and folders whose name starts with a dot
                              (/.env, /.git/config); by default they are 404
  --transports LIST           enabled transports, a subset of websocket,sse,longpoll,poll
                              (default all); negotiate and the start-up line name only these
  --public-ws-url URL         WebSocket URL announced by /pushwire/negotiate (behind a proxy)
  --trust-proxy ADDRS         comma-separated addresses of reverse proxies whose Forwarded,
                              X-Forwarded-Proto and X-Forwarded-Host negotiate believes when
                              it builds the WebSocket URL (default: none)
  --history N                 messages kept per channel for resume (default 1000)
  --broker memory|redis[s]://[[user]:password@]host:port[/db]
          |redis+sentinel://[[user]:password@]host:port[,host:port...]/MASTER-NAME
                              where channels, seqs and history live (default memory:
                              this process; redis: shared by every server on that Redis)
  --broker redis://a:6379,redis://b:6379,...
                              channels sharded over independent Redis (keep the order)
  --broker redis+cluster://host:port[,host:port...]
                              a Redis Cluster (7+), discovered from these seed nodes
                              (rediss+cluster://: TLS to every node)
  --broker-prefix P           Redis keys start with "P:" (default pushwire)
  --broker-password-file FILE the Redis password is FILE's first line (or set
                              PUSHWIRE_BROKER_PASSWORD; never put it on the command line,
                              where ps shows it: --broker-password is refused there)
  --broker-sentinel-password-file FILE
                              redis+sentinel://: the sentinels' password (their
                              requirepass) is FILE's first line (or set
                              PUSHWIRE_BROKER_SENTINEL_PASSWORD); default: none
  --broker-tls-ca FILE        rediss://: trust this CA for Redis's certificate (default:
                              the system's)
  --broker-tls-cert FILE --broker-tls-key FILE
                              rediss://: the client certificate a Redis with
                              tls-auth-clients asks for
  --broker-wait N             acknowledge (and announce) a publish only once N replicas hold
                              it (Redis WAIT; default 0); not confirmed within
                              --broker-wait-timeout-ms (10-1500, default 1000):
                              publish_outcome_unknown
  --reuse-port                let several processes listen on the same port
                              (SO_REUSEPORT; with a Redis broker they serve as one)

Who may do what (docs/security.md). With none of the key files the server is OPEN:
anyone who reaches it reads and writes every channel (it says so at start).
  --token-secret-file FILE    verify JWTs signed with this HS256 secret
  --token-public-key-file FILE
                              verify JWTs signed with this key's RS256 (RSA) or ES256 (P-256)
  --token-cookie NAME         also read the token from this cookie (EventSource sends cookies)
  --api-key-file FILE         the backend publishes with Authorization: ApiKey <the file's key>
                              (never accepted from a browser origin)
  --public-subscribe PATTERNS channels anyone may read without a token, e.g. news:*,status
                              (default: none with a token key; * with only an API key)
  --public-publish PATTERNS   channels anyone may publish on without a token (default: none)
  --allowed-origins LIST      pages of these origins may use the server (CORS, credentials
                              allowed) and open WebSockets; others get no CORS and 403 on
                              upgrade (default: any origin, CORS *)
  --max-token-lifetime SECONDS
                              refuse tokens whose exp - iat (without iat: exp - now) is
                              longer; a revocation (POST /pushwire/api/revoke) is kept this
                              long (default 86400)
  --tls-cert FILE --tls-key FILE
                              HTTPS and WSS on the same ports (PEM)
  --metrics-allow ADDRS       who may read /pushwire/metrics: addresses, ranges (10.0.0.0/8,
                              fd00::/8), loopback, private, any (default loopback,private);
                              others get 403

Presence (docs/protocol.md, Presence; default: no channel):
  --presence PATTERNS         channels whose members (client, token sub, token info) are
                              kept and can be read, e.g. room:*,lobby
  --join-leave PATTERNS       channels whose joins and leaves are also entries of the
                              channel's stream (seq'd, resumable); must be presence channels
  --presence-ttl SECONDS      with Redis: a node silent this long is dead, and the others
                              emit its members' leaves (default 30)
  --presence-grace-ms MS      a WebSocket/SSE member stays this long after its connection
                              ends; the same session back within it keeps it (default 5000)

Limits (0: none), each answered with a JSON error and counted in /pushwire/metrics:
  --max-connections-per-ip N  connections one address may hold (default 1000)
  --max-channels-per-connection N
                              channels one connection may subscribe (default 1024)
  --publish-rate N            publishes per second per caller: the token's sub; without one
                              (no token, or a token without sub) the address, loopback
                              exempt; 429 with Retry-After (default 1000; the backend: none)
  --max-channels N            channels held, however they came to exist (publish,
                              subscribe, poll); past it the longest-idle channel without
                              subscribers is dropped, and with none such a subscribe or
                              publish needing a new channel gets 503 overloaded
                              (default 100000; with Redis: the channels this node follows)
  --max-history-bytes N       history held in all channels; the oldest goes first and its
                              readers get the gap (default 268435456)
  --channel-ttl SECONDS       a channel with no subscriber and no message for this long is
                              dropped (default 3600)
  --channel-linger-ms MS      a channel stays followed this long after its last subscriber
                              left, for pollers; then a channel that never held a message
                              is dropped (default 10000)
  --max-presence-members N    members of a presence channel on this node at most: a
                              subscriber past N gets messages but is not a member (not
                              listed or counted, no join/leave) (default 1000)
  --heartbeat-ms MS           heartbeat interval on WebSocket and SSE (default 10000)
  --longpoll-timeout-ms MS    how long a long-poll is held when idle (default 25000)
  --drain-ms MS               on SIGTERM or SIGINT: stop accepting, answer held long-polls,
                              end event streams, close WebSockets with 1001 (clients
                              resume elsewhere from their cursors), and exit once all
                              are gone or after MS (default 5000)
  --max-message-bytes N       largest message data, request body or frame (default 65536)
  --max-batch-bytes N         largest body of an NDJSON batch publish (Content-Type:
                              application/x-ndjson; default 8388608)
  --idempotency-window SECONDS
                              a publish repeating the idempotency_key of one on the same
                              channel this recently stores nothing and answers the first's
                              seq, on every node (default 300; 0: keys are ignored)
  --max-idempotency-keys N    keys the memory broker remembers at most; the oldest go
                              first (default 100000; with Redis, Redis keeps them)
  --max-connections N         HTTP connections held at once (default 19000)
  --request-timeout-ms MS     time a client has to send a whole request (default 15000)
  --send-timeout-ms MS        a client that reads nothing of what is sent to it for this
                              long (the kernel sees it acknowledge nothing) is disconnected
                              (default 60000); one that reads slowly is paced instead,
                              whatever it is behind
  --socket-send-buffer BYTES  SO_SNDBUF of client sockets (default: the kernel's)
  --io-uring auto|off         batch socket writes through io_uring when the kernel allows
                              (default auto; off: one sendmsg per connection)
  --log-level LEVEL           error, warn, info (default) or debug; one line per event on
                              stderr: refused requests and dropped connections with their
                              reason (at most 20 a second per kind, then a count)
  --log-format text|json      text (default), or one JSON object a line, on stderr and
                              for the start-up lines on stdout alike
  --access-log                also one line per request: method, path (never the query),
                              status, bytes, ms, peer
  --config FILE               read options from a JSON object of the same names without
                              "--" ({"port": 8080, "transports": ["sse", "poll"]}); then
                              PUSHWIRE_* environment variables (PUSHWIRE_MAX_CHANNELS=5000),
                              then the command line, each overriding the one before; a
                              PUSHWIRE_ variable that is no option is a warning
  --print-config              print the options in effect (all three sources, defaults
                              included) as a JSON config file, and exit
  --help                      this text
  --version                   print the version

Endpoints: GET /pushwire/negotiate, POST /pushwire/publish, GET /pushwire/poll,
GET /pushwire/longpoll, GET /pushwire/sse, ws://HOST:WS_PORT/pushwire/ws,
GET /pushwire/healthz, GET /pushwire/metrics. See docs/protocol.md.
)";
}

ParsedOptions parseOptions(const std::vector<std::string>& args) {
    ParsedOptions parsed;
    Options& o = parsed.options;
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string name = args[i];
        std::string value;
        bool hasValue = false;
        if (auto eq = name.find('='); eq != std::string::npos && name.rfind("--", 0) == 0) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
            hasValue = true;
        }
        if (name == "--help" || name == "-h") {
            parsed.help = true;
            continue;
        }
        if (name == "--version") {
            parsed.version = true;
            continue;
        }
        if (name == "--web-follow-symlinks") {
            o.followSymlinks = true;
            continue;
        }
        if (name == "--serve-dotfiles") {
            o.serveDotfiles = true;
            continue;
        }
        if (name == "--reuse-port") {
            o.reusePort = true;
            continue;
        }
        if (name == "--access-log") {
            o.accessLog = true;
            continue;
        }
        if (name == "--print-config") {
            parsed.printConfig = true;
            continue;
        }

        if (std::find(std::begin(kValued), std::end(kValued), name) == std::end(kValued)) {
            const std::string near = closestOption(name);
            parsed.error =
                "unknown option " + name + (near.empty() ? "" : " (did you mean " + near + "?)") + " (see --help)";
            return parsed;
        }
        if (!hasValue) {
            if (i + 1 >= args.size()) {
                parsed.error = "option " + name + " needs a value (see --help)";
                return parsed;
            }
            value = args[++i];
        }
        long long n = 0;
        auto number = [&](long long min, long long max) {
            if (toNumber(value, min, max, n)) return true;
            parsed.error = "option " + name + " expects a whole number from " + std::to_string(min) + " to " +
                           std::to_string(max) + ", got '" + value + "'";
            return false;
        };
        if (name == "--host") {
            o.host = value;
        } else if (name == "--port") {
            if (!number(0, 65535)) return parsed;
            o.port = static_cast<int>(n);
        } else if (name == "--ws-port") {
            if (!number(0, 65535)) return parsed;
            o.wsPort = static_cast<int>(n);
        } else if (name == "--web-root") {
            o.webRoot = value;
        } else if (name == "--public-ws-url") {
            o.publicWsUrl = value;
        } else if (name == "--history") {
            if (!number(1, 10000000)) return parsed;
            o.history = static_cast<std::size_t>(n);
        } else if (name == "--heartbeat-ms") {
            if (!number(100, 600000)) return parsed;
            o.settings.heartbeat = std::chrono::milliseconds(n);
        } else if (name == "--log-level") {
            if (value != "error" && value != "warn" && value != "info" && value != "debug") {
                parsed.error = "--log-level must be error, warn, info or debug, got '" + value + "'";
                return parsed;
            }
            o.logLevel = value;
        } else if (name == "--log-format") {
            if (value != "text" && value != "json") {
                parsed.error = "--log-format must be text or json, got '" + value + "'";
                return parsed;
            }
            o.logFormat = value;
        } else if (name == "--drain-ms") {
            if (!number(0, 600000)) return parsed;
            o.drainMs = static_cast<int>(n);
        } else if (name == "--longpoll-timeout-ms") {
            if (!number(0, 600000)) return parsed;
            o.settings.longPollTimeout = std::chrono::milliseconds(n);
            o.settings.longPollMaxTimeout = std::max(o.settings.longPollMaxTimeout, o.settings.longPollTimeout);
        } else if (name == "--max-message-bytes") {
            if (!number(16, 64 * 1024 * 1024)) return parsed;
            o.settings.maxMessageBytes = static_cast<std::size_t>(n);
        } else if (name == "--max-connections") {
            if (!number(1, 1000000)) return parsed;
            o.maxConnections = static_cast<std::size_t>(n);
        } else if (name == "--request-timeout-ms") {
            if (!number(100, 600000)) return parsed;
            o.requestTimeoutMs = static_cast<int>(n);
        } else if (name == "--send-timeout-ms") {
            if (!number(100, 3600000)) return parsed;
            o.sendTimeoutMs = static_cast<int>(n);
        } else if (name == "--socket-send-buffer") {
            if (!number(0, 64 * 1024 * 1024)) return parsed;
            o.socketSendBuffer = static_cast<int>(n);
        } else if (name == "--broker") {
            if (auto problem = parseBrokerUrl(value, o.broker)) {
                parsed.error = *problem;
                return parsed;
            }
        } else if (name == "--broker-password") {
            o.broker.password = value;
        } else if (name == "--broker-password-file") {
            o.broker.passwordFile = value;
        } else if (name == "--broker-sentinel-password") {
            o.broker.sentinelPassword = value;
        } else if (name == "--broker-sentinel-password-file") {
            o.broker.sentinelPasswordFile = value;
        } else if (name == "--broker-tls-ca") {
            o.broker.tlsCa = value;
        } else if (name == "--broker-tls-cert") {
            o.broker.tlsCert = value;
        } else if (name == "--broker-tls-key") {
            o.broker.tlsKey = value;
        } else if (name == "--broker-wait") {
            if (!number(0, 100)) return parsed;
            o.broker.waitReplicas = static_cast<int>(n);
        } else if (name == "--broker-wait-timeout-ms") {
            // Below the 2 s after which a silent Redis connection is given up (WAIT holds it).
            if (!number(10, 1500)) return parsed;
            o.broker.waitTimeoutMs = n;
        } else if (name == "--broker-prefix") {
            if (value.empty() || value.size() > 64 || value.find_first_of(" \t\r\n") != std::string::npos) {
                parsed.error = "--broker-prefix: expected 1-64 characters without spaces, got '" + value + "'";
                return parsed;
            }
            o.broker.prefix = value;
        } else if (name == "--token-secret-file") {
            o.tokenSecretFile = value;
        } else if (name == "--token-public-key-file") {
            o.tokenPublicKeyFile = value;
        } else if (name == "--token-cookie") {
            o.tokenCookie = value;
        } else if (name == "--api-key-file") {
            o.apiKeyFile = value;
        } else if (name == "--public-subscribe") {
            o.publicSubscribe = value;
        } else if (name == "--public-publish") {
            o.publicPublish = value;
        } else if (name == "--trust-proxy") {
            o.trustedProxies.clear();
            for (std::string address : value.empty() ? std::vector<std::string>{} : commaList(value)) {
                while (!address.empty() && address.front() == ' ') address.erase(address.begin());
                while (!address.empty() && address.back() == ' ') address.pop_back();
                in6_addr parsed6{};
                in_addr parsed4{};
                if (inet_pton(AF_INET, address.c_str(), &parsed4) != 1 &&
                    inet_pton(AF_INET6, address.c_str(), &parsed6) != 1) {
                    parsed.error = "--trust-proxy: '" + address + "' is not an IP address";
                    return parsed;
                }
                o.trustedProxies.push_back(address);
            }
        } else if (name == "--allowed-origins") {
            o.allowedOrigins.clear();
            for (std::string origin : commaList(value)) {
                if (!origin.empty() && origin.rfind("http://", 0) != 0 && origin.rfind("https://", 0) != 0) {
                    parsed.error = "--allowed-origins: '" + origin + "' is not an origin like https://app.example.com";
                    return parsed;
                }
                while (!origin.empty() && origin.back() == '/') origin.pop_back();
                if (!origin.empty()) o.allowedOrigins.push_back(origin);
            }
        } else if (name == "--metrics-allow") {
            std::string problem;
            if (!AddressRanges::parse(value, &problem)) {
                parsed.error = "--metrics-allow: " + problem;
                return parsed;
            }
            o.metricsAllow = value;
        } else if (name == "--tls-cert") {
            o.tlsCert = value;
        } else if (name == "--tls-key") {
            o.tlsKey = value;
        } else if (name == "--max-connections-per-ip") {
            if (!number(0, 1000000)) return parsed;
            o.maxConnectionsPerIp = static_cast<std::size_t>(n);
        } else if (name == "--publish-rate") {
            if (!number(0, 10000000)) return parsed;
            o.publishRate = static_cast<double>(n);
        } else if (name == "--max-channels") {
            if (!number(0, 100000000)) return parsed;
            o.maxChannels = static_cast<std::size_t>(n);
        } else if (name == "--max-history-bytes") {
            if (!number(0, 1LL << 40)) return parsed;
            o.maxHistoryBytes = static_cast<std::size_t>(n);
        } else if (name == "--channel-ttl") {
            if (!number(0, 365 * 24 * 3600)) return parsed;
            o.channelTtlSeconds = static_cast<int>(n);
        } else if (name == "--max-token-lifetime") {
            if (!number(1, 10LL * 365 * 24 * 3600)) return parsed;
            o.maxTokenLifetimeSeconds = n;
        } else if (name == "--channel-linger-ms") {
            if (!number(0, 600000)) return parsed;
            o.channelLingerMs = static_cast<int>(n);
        } else if (name == "--idempotency-window") {
            if (!number(0, 24 * 3600)) return parsed;
            o.idempotencyWindowSeconds = static_cast<int>(n);
        } else if (name == "--max-idempotency-keys") {
            if (!number(0, 100000000)) return parsed;
            o.maxIdempotencyKeys = static_cast<std::size_t>(n);
        } else if (name == "--presence") {
            o.presence = value;
        } else if (name == "--join-leave") {
            o.joinLeave = value;
        } else if (name == "--presence-ttl") {
            if (!number(3, 24 * 3600)) return parsed;
            o.presenceTtlSeconds = static_cast<int>(n);
        } else if (name == "--presence-grace-ms") {
            if (!number(0, 600000)) return parsed;
            o.presenceGraceMs = static_cast<int>(n);
        } else if (name == "--max-presence-members") {
            if (!number(1, 10000000)) return parsed;
            o.maxPresenceMembers = static_cast<std::size_t>(n);
        } else if (name == "--max-batch-bytes") {
            if (!number(1024, 1LL << 30)) return parsed;
            o.maxPublishBatchBytes = static_cast<std::size_t>(n);
        } else if (name == "--max-channels-per-connection") {
            if (!number(1, 100000)) return parsed;
            o.settings.maxChannelsPerConnection = static_cast<std::size_t>(n);
        } else if (name == "--io-uring") {
            if (value != "auto" && value != "off") {
                parsed.error = "--io-uring: expected auto or off, got '" + value + "'";
                return parsed;
            }
            o.ioUring = value == "auto";
        } else if (name == "--transports") {
            o.settings.enabled = {false, false, false, false};
            for (const std::string& item : commaList(value)) {
                bool known = false;
                for (TransportKind kind : kAllTransports) {
                    if (item == transportName(kind)) {
                        o.settings.enabled[static_cast<std::size_t>(kind)] = true;
                        known = true;
                    }
                }
                if (!known) {
                    parsed.error = "--transports: unknown transport '" + item +
                                   "'; expected a comma-separated subset of websocket,sse,longpoll,poll";
                    return parsed;
                }
            }
        }
    }
    // --ws-port equal to --port is the default: one port for everything.
    if (o.port != 0 && o.wsPort == o.port) o.wsPort = -1;
    if (o.tlsCert.empty() != o.tlsKey.empty()) parsed.error = "--tls-cert and --tls-key go together";
    if (o.broker.tlsCert.empty() != o.broker.tlsKey.empty()) {
        parsed.error = "--broker-tls-cert and --broker-tls-key go together";
    }
    // TLS files given for a broker reached in plain TCP would be ignored: its password and
    // messages would cross the network in the clear while the operator believes otherwise.
    // Files that cannot be read are said at start, with their flag, not at each connect.
    const bool anyTls = o.broker.tls || std::any_of(o.broker.shards.begin(), o.broker.shards.end(),
                                                    [](const BrokerOptions& part) { return part.tls; });
    for (auto [flag, path] : {std::pair<const char*, const std::string*>{"--broker-tls-ca", &o.broker.tlsCa},
                              {"--broker-tls-cert", &o.broker.tlsCert},
                              {"--broker-tls-key", &o.broker.tlsKey}}) {
        if (path->empty()) continue;
        if (!anyTls) {
            parsed.error = std::string(flag) + " is for a Redis reached over TLS, but --broker is " +
                           (o.broker.kind == BrokerOptions::Kind::Memory ? "memory" : "plain TCP") +
                           ": write rediss:// (rediss+cluster://, rediss+sentinel://) to use TLS";
        } else if (!std::ifstream(*path)) {
            parsed.error = std::string(flag) + " " + *path + ": cannot read it";
        }
    }
    if (!o.broker.passwordFile.empty()) {
        if (auto problem = readPasswordFile(o.broker.passwordFile, o.broker.password, "--broker-password-file")) {
            parsed.error = *problem;
        }
    }
    if (!o.broker.sentinelPasswordFile.empty()) {
        if (auto problem = readPasswordFile(o.broker.sentinelPasswordFile, o.broker.sentinelPassword,
                                            "--broker-sentinel-password-file")) {
            parsed.error = *problem;
        }
    }
    // A password from the file or the environment is every shard's that has none of its own.
    for (BrokerOptions& shard : o.broker.shards) {
        if (shard.password.empty()) shard.password = o.broker.password;
    }
    // A brace in the prefix would become the keys' hash tag: a channel's keys would no
    // longer share one slot (or every channel would share one).
    if (o.broker.cluster && o.broker.prefix.find_first_of("{}") != std::string::npos) {
        parsed.error = "--broker-prefix: a Redis Cluster prefix may not hold '{' or '}', got '" + o.broker.prefix + "'";
    }
    for (auto [flag, text] : {std::pair<const char*, const std::optional<std::string>*>{"--presence", &o.presence},
                              {"--join-leave", &o.joinLeave}}) {
        std::string problem;
        if (*text && !ChannelPatterns::parse(**text, &problem)) parsed.error = std::string(flag) + ": " + problem;
    }
    return parsed;
}

namespace {

bool isSwitch(const std::string& flag) {
    return std::find(std::begin(kSwitches), std::end(kSwitches), flag) != std::end(kSwitches);
}

bool truthy(std::string value) {
    std::transform(value.begin(), value.end(), value.begin(), [](unsigned char c) { return std::tolower(c); });
    return value == "1" || value == "true" || value == "yes" || value == "on";
}

bool configArguments(const std::string& path, std::vector<std::string>& out, std::string& error) {
    std::ifstream file(path);
    if (!file) {
        error = "--config " + path + ": cannot read it";
        return false;
    }
    std::ostringstream contents;
    contents << file.rdbuf();
    auto config = nlohmann::json::parse(contents.str(), nullptr, false);
    if (config.is_discarded() || !config.is_object()) {
        error = "--config " + path + ": expected a JSON object of options, like {\"port\": 8080}";
        return false;
    }
    for (const auto& [key, value] : config.items()) {
        const std::string flag = "--" + key;
        if (key == "config") {
            error = "--config " + path + ": a config file cannot name another";
            return false;
        }
        const bool known =
            isSwitch(flag) || std::find(std::begin(kValued), std::end(kValued), flag) != std::end(kValued);
        if (!known || key == "help" || key == "version") {
            const std::string near = closestOption(flag);
            error = "--config " + path + ": unknown key \"" + key + "\"" +
                    (near.empty() ? "" : " (did you mean \"" + near.substr(2) + "\"?)") +
                    "; keys are the flags of --help without \"--\"";
            return false;
        }
        if (isSwitch(flag)) {
            if (!value.is_boolean()) {
                error = "--config " + path + ": \"" + key + "\" is a switch: true or false";
                return false;
            }
            if (value.get<bool>()) out.push_back(flag);
            continue;
        }
        std::string text;
        if (value.is_string()) {
            text = value.get<std::string>();
        } else if (value.is_number_integer() || value.is_number_unsigned()) {
            text = value.dump();
        } else if (value.is_number_float()) {
            text = value.dump();
        } else if (value.is_array()) {
            for (const auto& item : value) {
                if (!item.is_string()) {
                    error = "--config " + path + ": \"" + key + "\" must be a list of strings";
                    return false;
                }
                text += (text.empty() ? "" : ",") + item.get<std::string>();
            }
        } else {
            error = "--config " + path + ": \"" + key + "\" must be a string, a number or a list of strings";
            return false;
        }
        // A bad value is named by the key as written, not as the flag it becomes.
        if (ParsedOptions probe = parseOptions({flag + "=" + text}); !probe.error.empty()) {
            error = "--config " + path + ": \"" + key + "\": " + probe.error;
            return false;
        }
        out.push_back(flag + "=" + text);
    }
    return true;
}

}  // namespace

bool gatherArguments(const std::vector<std::string>& commandLine, const std::vector<std::string>& environment,
                     std::vector<std::string>& out, std::string& error, std::vector<UnknownVariable>* unknown) {
    out.clear();
    std::vector<std::string> rest;
    std::string config;
    for (std::size_t i = 0; i < commandLine.size(); ++i) {
        const std::string& arg = commandLine[i];
        if (arg == "--config") {
            if (i + 1 >= commandLine.size()) {
                error = "option --config needs a value (see --help)";
                return false;
            }
            config = commandLine[++i];
        } else if (arg.rfind("--config=", 0) == 0) {
            config = arg.substr(9);
        } else if (arg == "--broker-password" || arg.rfind("--broker-password=", 0) == 0) {
            error =
                "--broker-password is not taken from the command line (ps shows it to every local user): "
                "set PUSHWIRE_BROKER_PASSWORD or use --broker-password-file";
            return false;
        } else if (arg == "--broker-sentinel-password" || arg.rfind("--broker-sentinel-password=", 0) == 0) {
            error =
                "--broker-sentinel-password is not taken from the command line (ps shows it to every local user): "
                "set PUSHWIRE_BROKER_SENTINEL_PASSWORD or use --broker-sentinel-password-file";
            return false;
        } else {
            rest.push_back(arg);
        }
    }
    if (!config.empty() && !configArguments(config, out, error)) return false;
    // PUSHWIRE_MAX_CHANNELS=5000 -> --max-channels=5000. Other PUSHWIRE_ variables are no
    // option: a misspelling most likely (PUSHWIRE_MAX_CHANELS), told to the caller (main
    // logs a warning naming it), never applied.
    std::vector<std::string> fromEnvironment;
    for (const std::string& entry : environment) {
        if (entry.rfind("PUSHWIRE_", 0) != 0) continue;
        const std::size_t equals = entry.find('=');
        if (equals == std::string::npos) continue;
        std::string flag = "--" + entry.substr(9, equals - 9);
        std::transform(flag.begin(), flag.end(), flag.begin(),
                       [](unsigned char c) { return c == '_' ? '-' : static_cast<char>(std::tolower(c)); });
        const std::string value = entry.substr(equals + 1);
        const std::string variable = entry.substr(0, equals);
        if (isSwitch(flag) && flag != "--print-config") {
            if (truthy(value)) fromEnvironment.push_back(flag);
            continue;
        }
        if (std::find(std::begin(kValued), std::end(kValued), flag) == std::end(kValued)) {
            if (unknown) {
                std::string near = closestOption(flag);
                if (!near.empty()) {
                    near = "PUSHWIRE_" + near.substr(2);
                    std::transform(near.begin(), near.end(), near.begin(),
                                   [](unsigned char c) { return c == '-' ? '_' : static_cast<char>(std::toupper(c)); });
                }
                unknown->push_back(UnknownVariable{variable, near});
            }
            continue;
        }
        if (ParsedOptions probe = parseOptions({flag + "=" + value}); !probe.error.empty()) {
            error = variable + ": " + probe.error;
            return false;
        }
        fromEnvironment.push_back(flag + "=" + value);
    }
    std::sort(fromEnvironment.begin(), fromEnvironment.end());  // the environment has no order
    out.insert(out.end(), fromEnvironment.begin(), fromEnvironment.end());
    out.insert(out.end(), rest.begin(), rest.end());
    return true;
}

std::string effectiveConfig(const Options& o) {
    nlohmann::ordered_json out;
    auto list = [](const std::vector<std::string>& items) {
        nlohmann::json values = nlohmann::json::array();
        for (const std::string& item : items) values.push_back(item);
        return values;
    };
    out["host"] = o.host;
    out["port"] = o.port;
    if (o.wsPort >= 0) out["ws-port"] = o.wsPort;
    std::vector<std::string> transports;
    for (TransportKind kind : kAllTransports) {
        if (o.settings.isEnabled(kind)) transports.push_back(transportName(kind));
    }
    out["transports"] = list(transports);
    out["web-root"] = o.webRoot;
    out["web-follow-symlinks"] = o.followSymlinks;
    out["serve-dotfiles"] = o.serveDotfiles;
    out["public-ws-url"] = o.publicWsUrl;
    out["trust-proxy"] = list(o.trustedProxies);
    out["history"] = o.history;
    if (o.broker.kind == BrokerOptions::Kind::Memory) {
        out["broker"] = "memory";
    } else {
        // The password is not printed: this output may be pasted into a ticket.
        auto url = [](const BrokerOptions& b) {
            const std::string auth =
                b.user.empty() && b.password.empty() ? std::string() : b.user + (b.password.empty() ? "@" : ":***@");
            if (!b.sentinels.empty()) {
                std::string hosts;
                for (const auto& [host, port] : b.sentinels) {
                    hosts += (hosts.empty() ? "" : ",") + host + ":" + std::to_string(port);
                }
                return std::string(b.tls ? "rediss+sentinel://" : "redis+sentinel://") + auth + hosts + "/" +
                       b.masterName;
            }
            return std::string(b.tls ? "rediss://" : "redis://") + auth + b.host + ":" + std::to_string(b.port) + "/" +
                   std::to_string(b.db);
        };
        // A cluster's seeds without their scheme (rediss+cluster:// says TLS for all).
        std::string text = !o.broker.cluster ? "" : o.broker.tls ? "rediss+cluster://" : "redis+cluster://";
        for (const BrokerOptions& part : o.broker.shards) {
            if (!text.empty() && text.back() != '/') text += ',';
            const std::string one = url(part);
            text += o.broker.cluster ? one.substr(one.find("://") + 3) : one;
        }
        out["broker"] = o.broker.shards.empty() ? url(o.broker) : text;
    }
    out["broker-prefix"] = o.broker.prefix;
    out["broker-password-file"] = o.broker.passwordFile;
    out["broker-sentinel-password-file"] = o.broker.sentinelPasswordFile;
    out["broker-tls-ca"] = o.broker.tlsCa;
    out["broker-tls-cert"] = o.broker.tlsCert;
    out["broker-tls-key"] = o.broker.tlsKey;
    out["broker-wait"] = o.broker.waitReplicas;
    out["broker-wait-timeout-ms"] = o.broker.waitTimeoutMs;
    out["reuse-port"] = o.reusePort;
    out["token-secret-file"] = o.tokenSecretFile;
    out["token-public-key-file"] = o.tokenPublicKeyFile;
    out["token-cookie"] = o.tokenCookie;
    out["api-key-file"] = o.apiKeyFile;
    if (o.publicSubscribe) out["public-subscribe"] = *o.publicSubscribe;
    if (o.publicPublish) out["public-publish"] = *o.publicPublish;
    out["allowed-origins"] = list(o.allowedOrigins);
    out["metrics-allow"] = o.metricsAllow;
    out["tls-cert"] = o.tlsCert;
    out["tls-key"] = o.tlsKey;
    out["max-connections-per-ip"] = o.maxConnectionsPerIp;
    out["max-channels-per-connection"] = o.settings.maxChannelsPerConnection;
    out["publish-rate"] = static_cast<long long>(o.publishRate);
    out["max-channels"] = o.maxChannels;
    out["max-history-bytes"] = o.maxHistoryBytes;
    out["channel-ttl"] = o.channelTtlSeconds;
    out["channel-linger-ms"] = o.channelLingerMs;
    out["heartbeat-ms"] = o.settings.heartbeat.count();
    out["longpoll-timeout-ms"] = o.settings.longPollTimeout.count();
    out["drain-ms"] = o.drainMs;
    out["max-message-bytes"] = o.settings.maxMessageBytes;
    out["max-batch-bytes"] = o.maxPublishBatchBytes;
    out["idempotency-window"] = o.idempotencyWindowSeconds;
    out["max-idempotency-keys"] = o.maxIdempotencyKeys;
    out["max-connections"] = o.maxConnections;
    out["request-timeout-ms"] = o.requestTimeoutMs;
    out["send-timeout-ms"] = o.sendTimeoutMs;
    out["socket-send-buffer"] = o.socketSendBuffer;
    out["io-uring"] = o.ioUring ? "auto" : "off";
    if (o.presence) out["presence"] = *o.presence;
    if (o.joinLeave) out["join-leave"] = *o.joinLeave;
    out["presence-ttl"] = o.presenceTtlSeconds;
    out["presence-grace-ms"] = o.presenceGraceMs;
    out["max-presence-members"] = o.maxPresenceMembers;
    out["max-token-lifetime"] = o.maxTokenLifetimeSeconds;
    out["log-level"] = o.logLevel;
    out["log-format"] = o.logFormat;
    out["access-log"] = o.accessLog;
    return out.dump(2) + "\n";
}

}  // namespace pushwire::server
