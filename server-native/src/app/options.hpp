// Command-line options of pushwire-server.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "transports/context.hpp"

namespace pushwire::server {

constexpr const char* kVersion = "0.1.0";

// --broker memory | redis[s]://[[user]:password@]host:port[/db][,redis://...] | redis[s]+cluster://host:port[,...]
//          | redis[s]+sentinel://host:port[,...]/MASTER-NAME, --broker-prefix P
struct BrokerOptions {
    enum class Kind { Memory, Redis };
    Kind kind = Kind::Memory;
    std::string host = "127.0.0.1";
    int port = 6379;
    std::string user;      // an ACL user ("": the default user)
    std::string password;  // never printed (banner, logs, healthz, metrics, errors, --print-config)
    int db = 0;
    bool tls = false;          // rediss://
    std::string tlsCa;         // --broker-tls-ca: the CA that signed Redis's certificate ("": the system's)
    std::string tlsCert;       // --broker-tls-cert / --broker-tls-key: a client certificate,
    std::string tlsKey;        // for a Redis with tls-auth-clients
    std::string passwordFile;  // --broker-password-file (read at start; the password is its first line)
    // redis+sentinel://h:p[,h:p...]/NAME: the master named NAME is asked of these sentinels.
    std::vector<std::pair<std::string, int>> sentinels;
    std::string masterName;
    // The sentinels' password (--broker-sentinel-password-file, PUSHWIRE_BROKER_SENTINEL_PASSWORD;
    // never printed), "" for sentinels without requirepass.
    std::string sentinelPassword;
    std::string sentinelPasswordFile;
    // --broker-wait N: a publish is acknowledged (and announced) only once N replicas hold it
    // (Redis WAIT, up to waitTimeoutMs; then publish_outcome_unknown). 0: no wait.
    int waitReplicas = 0;
    std::int64_t waitTimeoutMs = 1000;
    std::string prefix = "pushwire";  // every Redis key starts with "<prefix>:"
    // A channel's keys expire this long after its last publish or read (--channel-ttl;
    // 0: never). A channel's node reads it while it has subscribers, so it stays.
    std::int64_t channelTtlMs = 0;
    // How long an idempotency key is kept (--idempotency-window; 0: keys are ignored).
    std::int64_t idempotencyWindowMs = 0;
    // Several Redis (broker/routed_broker.hpp): `redis://a,redis://b` shards channels over
    // independent instances (each URL parsed as one --broker; host/port above: the first);
    // `redis+cluster://seed,...` (cluster) discovers a Redis Cluster from its seeds
    // (`rediss+cluster://`, or every seed rediss://: TLS, `tls` above, to every master found).
    std::vector<BrokerOptions> shards;
    bool cluster = false;
};

// Parses the --broker value; an error sentence when it is not one.
std::optional<std::string> parseBrokerUrl(const std::string& text, BrokerOptions& out);

struct Options {
    std::string host = "127.0.0.1";
    int port = 8080;
    int wsPort = -1;  // -1: no second port (WebSocket on the HTTP port)
    std::string webRoot;
    std::string publicWsUrl;
    std::vector<std::string> trustedProxies;  // --trust-proxy: their Forwarded headers count
    std::size_t history = 1000;
    std::size_t maxConnections = 19000;
    int requestTimeoutMs = 15000;  // a client must send a whole request within this
    int sendTimeoutMs = 60000;     // a reader that takes nothing for this long is closed
    int socketSendBuffer = 0;      // SO_SNDBUF of accepted sockets (0: the kernel's)
    bool followSymlinks = false;   // static files: follow links that leave --web-root
    bool serveDotfiles = false;    // static files: serve names starting with a dot
    bool ioUring = true;           // --io-uring auto|off
    bool reusePort = false;        // --reuse-port: several processes on one port (SO_REUSEPORT)
    int drainMs = 5000;
    std::string logLevel = "info";   // --log-level error|warn|info|debug
    std::string logFormat = "text";  // --log-format text|json
    bool accessLog =
        false;  // --access-log: one line per request            // SIGTERM: the time connections get to end before exit
    BrokerOptions broker;
    Settings settings;

    // Who may do what (docs/security.md). Files are read at start.
    std::string tokenSecretFile;
    std::string tokenPublicKeyFile;
    std::string tokenCookie;
    std::string apiKeyFile;
    std::optional<std::string> publicSubscribe;  // comma-separated patterns
    std::optional<std::string> publicPublish;
    std::vector<std::string> allowedOrigins;
    // --metrics-allow: who may read /pushwire/metrics (AddressRanges; others get 403).
    std::string metricsAllow = "loopback,private";
    std::string tlsCert;
    std::string tlsKey;
    // Tokens whose exp - iat is longer are refused; a revocation (server API `revoke`) is
    // kept this long after its `before` (docs/security.md).
    std::int64_t maxTokenLifetimeSeconds = 86400;

    // Limits that protect the server and the other clients (0: none).
    std::size_t maxConnectionsPerIp = 1000;
    double publishRate = 1000;  // publishes per second per caller (the backend is not limited)
    std::size_t maxChannels = 100000;
    std::size_t maxHistoryBytes = 256 * 1024 * 1024;
    int channelTtlSeconds = 3600;
    // A channel stays followed this long after its last subscriber left (a poller's next
    // request finds it), then it goes (a channel that holds no message goes for good).
    int channelLingerMs = 10000;

    // Idempotent publish: a key repeated on a channel within the window answers the first
    // publish's seq (0: keys are accepted and ignored). The memory broker keeps at most
    // maxIdempotencyKeys of them.
    int idempotencyWindowSeconds = 300;
    std::size_t maxIdempotencyKeys = 100000;
    std::size_t maxPublishBatchBytes = 8 * 1024 * 1024;  // --max-batch-bytes: an NDJSON batch publish's body

    // Presence (docs/protocol.md, Presence): channel patterns, validated at start.
    std::optional<std::string> presence;    // --presence: channels whose members are kept
    std::optional<std::string> joinLeave;   // --join-leave: and whose joins/leaves are stream entries
    int presenceTtlSeconds = 30;            // a silent node's members leave after this (Redis)
    int presenceGraceMs = 5000;             // a WebSocket/SSE member outlives its connection this long
    std::size_t maxPresenceMembers = 1000;  // members listed at most; stats stay exact
};

struct ParsedOptions {
    Options options;
    bool help = false;
    bool version = false;
    bool printConfig = false;  // --print-config: print effectiveConfig() and exit
    std::string error;         // non-empty: print it and exit 2
};

ParsedOptions parseOptions(const std::vector<std::string>& args);
std::string usage();
// The known flag nearest to `flag` ("--max-chanels" -> "--max-channels"; '_' and '-' and
// case alike), or "" when none is near.
std::string closestOption(const std::string& flag);
// The options in effect as a --config file would write them (every key, defaults
// included; a Redis password as ***), indented JSON.
std::string effectiveConfig(const Options& options);

// A PUSHWIRE_ variable that names no option (ignored), and the one it is nearest to.
struct UnknownVariable {
    std::string name;
    std::string didYouMean;  // "" when none is near
};

// The arguments parseOptions() reads, from three places, later ones winning:
//   --config FILE   a JSON object of the same names without "--" ({"port": 8080,
//                   "transports": ["sse", "poll"], "reuse-port": true});
//   PUSHWIRE_*      environment variables (PUSHWIRE_MAX_CHANNELS=5000 is
//                   --max-channels=5000; for a switch, 1/true/yes sets it);
//   the command line.
// `environment` is "NAME=value" strings. On a problem (an unreadable file, JSON that is
// not an object, a key that is no option or a bad value, named as written; a variable with
// a bad value) returns false with `error` set. PUSHWIRE_ variables that name no option are
// ignored and listed in `unknown`.
bool gatherArguments(const std::vector<std::string>& commandLine, const std::vector<std::string>& environment,
                     std::vector<std::string>& out, std::string& error,
                     std::vector<UnknownVariable>* unknown = nullptr);

}  // namespace pushwire::server
