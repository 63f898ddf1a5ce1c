#include "app/server.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <asio.hpp>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "api/actions.hpp"
#include "api/api_endpoint.hpp"
#include "api/cluster_control.hpp"
#include "app/build_info.hpp"
#include "app/memory_trimmer.hpp"
#include "app/origin_guard.hpp"
#include "app/static_files.hpp"
#include "auth/address_ranges.hpp"
#include "broker/cluster_broker.hpp"
#include "broker/memory_broker.hpp"
#include "broker/memory_presence.hpp"
#include "broker/redis_broker.hpp"
#include "broker/redis_presence.hpp"
#include "broker/routed_presence.hpp"
#include "front/http_server.hpp"
#include "front/log.hpp"
#include "front/poll_until.hpp"
#include "hub/hub.hpp"
#include "pushwire/protocol/frames.hpp"
#include "transports/channel_request.hpp"
#include "transports/http_transports.hpp"
#include "transports/presence_endpoint.hpp"
#include "transports/publish_endpoint.hpp"
#include "transports/websocket.hpp"

namespace pushwire::server {

using protocol::ErrorCode;

const char* transportName(TransportKind kind) {
    switch (kind) {
        case TransportKind::WebSocket: return "websocket";
        case TransportKind::Sse: return "sse";
        case TransportKind::LongPoll: return "longpoll";
        case TransportKind::Poll: return "poll";
    }
    return "?";
}

const char* limitName(Limit limit) {
    switch (limit) {
        case Limit::ConnectionsPerIp: return "connections_per_ip";
        case Limit::ChannelsPerConnection: return "channels_per_connection";
        case Limit::PublishRate: return "publish_rate";
        case Limit::Channels: return "channels";
        case Limit::HistoryBytes: return "history_bytes";
        case Limit::ChannelTtl: return "channel_ttl";
    }
    return "?";
}

namespace {

HttpLimits limitsFor(const Options& options) {
    HttpLimits limits;
    limits.maxBodyBytes = options.settings.maxMessageBytes + 1024;
    limits.maxBatchBodyBytes = options.maxPublishBatchBytes;
    limits.batchPath = "/pushwire/publish";
    // Room for the largest message twice over: one message alone never closes a reader.
    limits.maxQueuedBytes = std::max(options.settings.maxQueuedBytes, 2 * options.settings.maxMessageBytes + 65536);
    limits.drainBelowBytes = options.settings.feedRoomBytes;
    limits.requestTimeout = std::chrono::milliseconds(options.requestTimeoutMs);
    limits.sendTimeout = std::chrono::milliseconds(options.sendTimeoutMs);
    limits.socketSendBuffer = options.socketSendBuffer;
    limits.ioUring = options.ioUring;
    return limits;
}

std::unique_ptr<Broker> makeBroker(const Options& options, asio::io_context& io) {
    if (options.broker.kind == BrokerOptions::Kind::Redis) {
        BrokerOptions redis = options.broker;
        redis.channelTtlMs = static_cast<std::int64_t>(options.channelTtlSeconds) * 1000;
        redis.idempotencyWindowMs = static_cast<std::int64_t>(options.idempotencyWindowSeconds) * 1000;
        if (redis.cluster) return std::make_unique<ClusterBroker>(io, redis, options.history);
        if (!redis.shards.empty()) return std::make_unique<ShardedBroker>(io, redis, options.history);
        return makeRedisBroker(io, redis, options.history);
    }
    MemoryBroker::Options memory;
    memory.historySize = options.history;
    memory.maxChannels = options.maxChannels;
    memory.maxHistoryBytes = options.maxHistoryBytes;
    memory.channelTtlMs = static_cast<std::int64_t>(options.channelTtlSeconds) * 1000;
    memory.idempotencyWindowMs = static_cast<std::int64_t>(options.idempotencyWindowSeconds) * 1000;
    memory.maxIdempotencyKeys = options.maxIdempotencyKeys;
    return std::make_unique<MemoryBroker>(memory);
}

ConnectionBudget budgetFor(const Options& options) {
    ConnectionBudget budget;
    budget.max = options.maxConnections;
    budget.maxPerPeer = options.maxConnectionsPerIp;
    return budget;
}

std::string readKeyFile(const std::string& path, const char* flag, bool trimLine) {
    std::ifstream file(path, std::ios::binary);
    if (!file) throw std::runtime_error(std::string(flag) + ": cannot read " + path);
    std::ostringstream text;
    text << file.rdbuf();
    std::string out = text.str();
    // `echo secret > file` leaves a newline that is not part of the secret.
    if (trimLine) {
        while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    }
    if (out.empty()) throw std::runtime_error(std::string(flag) + ": " + path + " is empty");
    return out;
}

std::optional<ChannelPatterns> patternsOf(const std::optional<std::string>& text, const char* flag) {
    if (!text) return std::nullopt;
    std::string problem;
    auto patterns = ChannelPatterns::parse(*text, &problem);
    if (!patterns) throw std::runtime_error(std::string(flag) + ": " + problem);
    return patterns;
}

AccessOptions accessOptions(const Options& options, const Revocations& revocations) {
    AccessOptions out;
    out.maxTokenLifetimeSeconds = options.maxTokenLifetimeSeconds;
    out.revocations = &revocations;
    if (!options.tokenSecretFile.empty()) {
        out.tokenSecret = readKeyFile(options.tokenSecretFile, "--token-secret-file", true);
        if (out.tokenSecret.size() < 32) {
            throw std::runtime_error("--token-secret-file: the secret is " + std::to_string(out.tokenSecret.size()) +
                                     " bytes; use at least 32 (openssl rand -hex 32)");
        }
    }
    if (!options.tokenPublicKeyFile.empty()) {
        out.tokenPublicKeyPem = readKeyFile(options.tokenPublicKeyFile, "--token-public-key-file", false);
    }
    if (!options.apiKeyFile.empty()) {
        out.apiKey = readKeyFile(options.apiKeyFile, "--api-key-file", true);
        if (out.apiKey.size() < 16) {
            throw std::runtime_error("--api-key-file: the key is " + std::to_string(out.apiKey.size()) +
                                     " bytes; use at least 16 (openssl rand -hex 32)");
        }
    }
    out.tokenCookie = options.tokenCookie;
    out.publicSubscribe = patternsOf(options.publicSubscribe, "--public-subscribe");
    out.publicPublish = patternsOf(options.publicPublish, "--public-publish");
    out.allowedOrigins = options.allowedOrigins;
    return out;
}

Hub::Options hubOptions(const Options& options, Broker& broker) {
    Hub::Options out;
    // A remote broker's history is a round trip away: the hub keeps the last messages it
    // saw go by, so that readers close behind (most of them) never ask the broker.
    out.recentWindow = broker.historyIsLocal() ? 0 : std::min<std::size_t>(options.history, 1000);
    // And goes on following a channel for a while after its last listener left, so that a
    // poller's next request neither subscribes again nor reads from Redis.
    // In memory too: a channel a poller reads between requests stays (and keeps its stream's
    // life) instead of being made anew by each request.
    out.followLingerMs = options.channelLingerMs;
    out.maxChannels = options.maxChannels;
    auto* memory = dynamic_cast<MemoryBroker*>(&broker);
    out.epoch = memory ? memory->epoch() : randomEpoch();
    return out;
}

PresenceSettings presenceSettings(const Options& options) {
    PresenceSettings out;
    if (auto patterns = patternsOf(options.presence, "--presence")) out.presence = std::move(*patterns);
    if (auto patterns = patternsOf(options.joinLeave, "--join-leave")) out.joinLeave = std::move(*patterns);
    out.grace = std::chrono::milliseconds(options.presenceGraceMs);
    out.maxMembers = options.maxPresenceMembers;
    return out;
}

// The presence store that goes with the broker; none without --presence (it costs
// something: Redis heartbeats, a reaper).
std::unique_ptr<Presence> makePresence(const Options& options, Broker& broker, asio::io_context& io) {
    if (!options.presence) return nullptr;
    if (auto* memory = dynamic_cast<MemoryBroker*>(&broker)) {
        return std::make_unique<MemoryPresence>(*memory, [] {
            return std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                .count();
        });
    }
    auto* routed = dynamic_cast<RoutedBroker*>(&broker);
    auto* redis = dynamic_cast<RedisBroker*>(&broker);
    if (!redis && !routed) return nullptr;
    RedisPresence::Options presence;
    presence.ttl = std::chrono::seconds(options.presenceTtlSeconds);
    presence.announces = [settings = presenceSettings(options)](const std::string& channel) {
        return settings.presence.matches(channel) && settings.joinLeave.matches(channel);
    };
    presence.clock = [] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    };
    if (routed) return std::make_unique<RoutedPresence>(io, *routed, presence);
    return std::make_unique<RedisPresence>(io, *redis, std::move(presence));
}

}  // namespace

struct Server::Impl {
    explicit Impl(Options o)
        : options(std::move(o)),
          broker(makeBroker(options, io)),
          hub(*broker, hubOptions(options, *broker)),
          revocations(options.maxTokenLifetimeSeconds),
          access(accessOptions(options, revocations)),
          publishRate(options.publishRate, std::max(1.0, options.publishRate)),
          presenceStore(makePresence(options, *broker, io)),
          presence(presenceStore ? std::make_unique<PresenceTracker>(io, *presenceStore, presenceSettings(options))
                                 : nullptr),
          context{io, hub, metrics, options.settings, access, publishRate, sessions, presence.get()},
          budget(budgetFor(options)),
          http(io, limitsFor(options), budget),
          wsHttp(io, limitsFor(options), budget),
          sse(context),
          ws(context),
          signals(io, SIGINT, SIGTERM),
          hubSweep(io) {}

    std::unique_ptr<TlsContext> tlsContext() {
        if (options.tlsCert.empty()) return nullptr;
        return std::make_unique<TlsContext>(options.tlsCert, options.tlsKey);
    }

    void sweepHub() {
        hubSweep.expires_after(std::chrono::seconds(1));
        hubSweep.async_wait([this](const std::error_code& ec) {
            if (ec) return;
            hub.sweep();
            if (auto* memory = dynamic_cast<MemoryBroker*>(broker.get())) memory->sweep(context.nowMs());
            publishRate.sweep(context.nowMs());
            sessions.sweep(context.nowMs());
            revocations.sweep(context.nowMs() / 1000);
            trimmer.sweep(footprint(), MemoryTrimmer::residentBytes());
            watchBroker();
            sweepHub();
        });
    }

    // What the server holds, estimated from its own counts (for the trimmer: only its
    // falls matter, not its exact size).
    std::size_t footprint() const {
        constexpr std::size_t kConnection = 2048, kTlsSession = 32 * 1024, kSubscription = 256, kChannel = 1024;
        std::size_t bytes = http.queuedBytes() + wsHttp.queuedBytes();
        bytes += (http.connectionCount() + wsHttp.connectionCount()) * (kConnection + (tls ? kTlsSession : 0));
        bytes += hub.listenerCount() * kSubscription + hub.channelCount() * kChannel;
        if (auto* memory = dynamic_cast<const MemoryBroker*>(broker.get())) {
            bytes += memory->channelCount() * kChannel + memory->historyBytes();
        }
        return bytes;
    }

    // Logs the broker's comings and goings (checked once a second).
    // A connection lost and made again between two checks is logged too (down, then up):
    // the broker's reconnect count says it happened.
    void watchBroker() {
        const bool up = broker->healthy();
        const std::uint64_t reconnects = broker->stats().reconnects;
        // Over several Redis: which parts are down or failing (the node stays up while any
        // part is up and not failing).
        std::string partsDown;
        for (const BrokerPart& part : broker->parts()) {
            if (!part.available || part.failing) partsDown += (partsDown.empty() ? "" : ",") + part.name;
        }
        const bool partsChanged = partsDown != brokerPartsDown;
        if (partsChanged) {
            brokerPartsDown = partsDown;
            if (partsDown.empty()) {
                log::write(log::Level::Info, "broker_parts_up", {{"broker", broker->describe()}});
            } else {
                log::write(log::Level::Warn, "broker_parts_down",
                           {{"parts", partsDown},
                            {"state", broker->state()},
                            {"effect", "only their channels answer broker_unavailable until they are back"}});
            }
        }
        // Over several Redis, the attempts to reach a part that is down count as reconnects
        // too: that part is logged above, and is no flap of the broker.
        const bool flapped = up && brokerUp && reconnects > brokerReconnects && partsDown.empty() && !partsChanged;
        brokerReconnects = reconnects;
        if (flapped) {
            log::write(log::Level::Warn, "broker_down",
                       {{"broker", broker->describe()},
                        {"state", "a connection to the broker was lost and made again within a second"},
                        log::num("reconnects", static_cast<long long>(reconnects))});
            log::write(log::Level::Info, "broker_up", {{"broker", broker->describe()}});
            return;
        }
        if (up == brokerUp) return;
        brokerUp = up;
        if (up) {
            log::write(log::Level::Info, "broker_up", {{"broker", broker->describe()}});
        } else {
            log::write(
                log::Level::Warn, "broker_down",
                {{"broker", broker->describe()},
                 {"state", broker->state()},
                 {"effect", "negotiate and healthz answer 503, publishes broker_unavailable, until it is back"}});
        }
    }

    void routes();
    void negotiate(HttpRequest& request, const HttpConnectionPtr& connection);
    void health(HttpConnection& connection);
    std::string renderMetrics() const;
    std::string websocketUrl(const HttpRequest& request) const;

    Options options;
    std::unique_ptr<TlsContext> tls = tlsContext();
    asio::io_context io{1};
    Metrics metrics;
    std::unique_ptr<Broker> broker;
    Hub hub;
    Revocations revocations;
    AccessPolicy access;
    RateLimiter publishRate;
    SessionRegistry sessions;
    std::unique_ptr<Presence> presenceStore;  // null: no presence (a broker without it)
    std::unique_ptr<PresenceTracker> presence;
    Context context;
    ConnectionBudget budget;  // --max-connections, over both ports
    HttpServer http;
    HttpServer wsHttp;  // --ws-port: WebSocket only (the HTTP port accepts upgrades too)
    bool wsHttpListening = false;
    bool draining = false;
    bool brokerUp = true;  // as last logged (watchBroker)
    std::string brokerPartsDown;
    std::uint64_t brokerReconnects = 0;
    std::int64_t startTimeSeconds =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();  // SIGTERM: connections are being drained
    bool stopped = false;
    void finalStop();
    SseTransport sse;
    WebSocketTransport ws;
    PublishEndpoint publisher{context};
    std::string nodeId = randomEpoch();  // this process, in the server API's `info`
    nlohmann::json nodeInfo() const;
    // With Redis, every node (api/cluster_control.hpp); else this one.
    api::ClusterControl* cluster = nullptr;
    std::unique_ptr<api::Actions> actions = makeActions();
    std::unique_ptr<api::Actions> makeActions() {
        api::NodeInfo info = [this] { return nodeInfo(); };
        if (options.broker.kind != BrokerOptions::Kind::Redis) {
            return std::make_unique<api::LocalActions>(context, revocations, std::move(info));
        }
        const BrokerOptions& b = options.broker;
        api::ClusterControl::Settings settings;
        settings.endpoint = redisEndpoint(b);
        settings.prefix = b.prefix;
        settings.nodeId = nodeId;
        if (auto* clustered = dynamic_cast<ClusterBroker*>(broker.get())) {
            // Its keys and channels on the master of the {api} slot, found by following MOVED.
            settings.cluster = true;
            settings.seeds = clustered->seedEndpoints();
            settings.endpoint = settings.seeds.front();
        }
        auto control =
            std::make_unique<api::ClusterControl>(io, std::move(settings), context, revocations, std::move(info));
        cluster = control.get();
        return control;
    }
    api::ApiEndpoint api{context, *actions, options.maxTokenLifetimeSeconds};
    asio::signal_set signals;
    asio::steady_timer hubSweep;
    MemoryTrimmer trimmer;
    OriginGuard originGuard{access, metrics};
    StaticFiles staticFiles{options.webRoot, options.followSymlinks, options.serveDotfiles};
    AddressRanges metricsAllow = *AddressRanges::parse(options.metricsAllow);  // checked by parseOptions
};

void Server::Impl::routes() {
    if (access.restrictsOrigins()) {  // else no policy: the front's shared CORS * line, no call per request
        auto cors = [this](std::string_view origin) { return access.corsHeaders(origin); };
        http.cors(cors);
        wsHttp.cors(cors);
    }
    http.useTls(tls.get());
    wsHttp.useTls(tls.get());
    // The endpoints a page uses: a page of an origin not allowed is refused before them.
    auto page = [this](HttpServer::Handler handler) {
        return [this, handler = std::move(handler)](HttpRequest& r, const HttpConnectionPtr& c) {
            if (!originGuard.refuse(r, *c, context.nowMs())) handler(r, c);
        };
    };
    http.route("/pushwire/negotiate", page([this](HttpRequest& r, const HttpConnectionPtr& c) { negotiate(r, c); }));
    http.route("/pushwire/publish",
               page([this](HttpRequest& r, const HttpConnectionPtr& c) { publisher.handle(r, c); }));
    http.route("/pushwire/poll",
               page([this](HttpRequest& r, const HttpConnectionPtr& c) { handlePoll(context, r, c); }));
    http.route("/pushwire/longpoll",
               page([this](HttpRequest& r, const HttpConnectionPtr& c) { handleLongPoll(context, r, c); }));
    http.route("/pushwire/sse", page([this](HttpRequest& r, const HttpConnectionPtr& c) { sse.handle(r, c); }));
    http.route("/pushwire/presence",
               page([this](HttpRequest& r, const HttpConnectionPtr& c) { handlePresence(context, r, c); }));
    http.route("/pushwire/healthz", [this](HttpRequest&, const HttpConnectionPtr& c) { health(*c); });
    http.route("/pushwire/metrics", [this](HttpRequest& r, const HttpConnectionPtr& c) {
        c->noCors();  // for Prometheus, not for web pages
        if (!metricsAllow.contains(r.peer)) {
            ++metrics.forbidden;
            c->respondError(ErrorCode::Forbidden, "the metrics are not served to " + r.peer + " (--metrics-allow " +
                                                      metricsAllow.text() + ")");
            return;
        }
        c->respond(200, "text/plain; version=0.0.4; charset=utf-8", renderMetrics());
    });
    http.route("/pushwire/ws", page([this](HttpRequest& r, const HttpConnectionPtr& c) { ws.handle(r, c); }));
    http.routePrefix(api::ApiEndpoint::kPrefix,
                     [this](HttpRequest& r, const HttpConnectionPtr& c) { api.handle(r, c); });
    http.fallback([this](HttpRequest& r, const HttpConnectionPtr& c) { serveStatic(staticFiles, r, c); });
    wsHttp.route("/pushwire/ws", page([this](HttpRequest& r, const HttpConnectionPtr& c) { ws.handle(r, c); }));
    wsHttp.fallback([](HttpRequest& r, const HttpConnectionPtr& c) {
        c->respondError(ErrorCode::NotFound, "no WebSocket endpoint at " + r.path + "; use /pushwire/ws");
    });
}

namespace {

// A host[:port] fit to go in a URL (and in negotiate's JSON): letters, digits, . - _ :
// and an IPv6 literal's brackets. Anything else (a quote, a slash, a space) is refused.
bool plainHost(std::string_view host) {
    if (host.empty() || host.size() > 255) return false;
    for (char c : host) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                        c == '-' || c == '_' || c == ':' || c == '[' || c == ']';
        if (!ok) return false;
    }
    return true;
}

std::string_view trimmed(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

// The last element of a comma-separated header: the one the proxy next to us added.
std::string_view lastElement(std::string_view header) {
    const std::size_t comma = header.rfind(',');
    return trimmed(comma == std::string_view::npos ? header : header.substr(comma + 1));
}

// `name=value` from one element of RFC 7239's Forwarded (`for=..;proto=https;host=..`).
std::string forwardedParameter(std::string_view element, std::string_view name) {
    std::size_t start = 0;
    while (start <= element.size()) {
        std::size_t end = element.find(';', start);
        if (end == std::string_view::npos) end = element.size();
        std::string_view pair = trimmed(element.substr(start, end - start));
        const std::size_t equals = pair.find('=');
        if (equals != std::string_view::npos) {
            std::string key(trimmed(pair.substr(0, equals)));
            std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
            if (key == name) {
                std::string_view value = trimmed(pair.substr(equals + 1));
                if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
                    value = value.substr(1, value.size() - 2);
                }
                return std::string(value);
            }
        }
        start = end + 1;
    }
    return {};
}

}  // namespace

std::string Server::Impl::websocketUrl(const HttpRequest& request) const {
    if (!options.publicWsUrl.empty()) return options.publicWsUrl;
    bool secure = tls != nullptr;
    // The host the client reached us by (with its port), so that a page on localhost gets
    // localhost, and a page through a proxy the proxy's address.
    std::string host(trimmed(request.header("Host")));
    const bool trusted = std::find(options.trustedProxies.begin(), options.trustedProxies.end(), request.peer) !=
                         options.trustedProxies.end();
    if (trusted) {
        std::string proto, forwardedHost;
        if (std::string_view forwarded = request.header("Forwarded"); !forwarded.empty()) {
            proto = forwardedParameter(lastElement(forwarded), "proto");
            forwardedHost = forwardedParameter(lastElement(forwarded), "host");
        }
        if (proto.empty()) proto = std::string(lastElement(request.header("X-Forwarded-Proto")));
        if (forwardedHost.empty()) forwardedHost = std::string(lastElement(request.header("X-Forwarded-Host")));
        std::transform(proto.begin(), proto.end(), proto.begin(), [](unsigned char c) { return std::tolower(c); });
        if (proto == "https" || proto == "wss") secure = true;
        if (proto == "http" || proto == "ws") secure = false;
        if (plainHost(forwardedHost)) host = forwardedHost;
    }
    const std::string scheme = secure ? "wss://" : "ws://";
    if (wsHttpListening) {
        // A second port for WebSocket: the client's host name, that port.
        std::string name = plainHost(host) ? host : options.host;
        if (!name.empty() && name[0] == '[') {
            name = name.substr(0, name.find(']') + 1);
        } else if (auto colon = name.rfind(':'); colon != std::string::npos && name.find(':') == colon) {
            name = name.substr(0, colon);
        }
        return scheme + name + ":" + std::to_string(wsHttp.port()) + "/pushwire/ws";
    }
    if (!plainHost(host)) host = options.host + ":" + std::to_string(http.port());
    return scheme + host + "/pushwire/ws";
}

void Server::Impl::negotiate(HttpRequest& request, const HttpConnectionPtr& connection) {
    if (!broker->healthy()) {
        // A node that cannot reach its broker could deliver nothing, nor one whose every
        // broker part refuses its commands (healthz's 503): clients with another server to
        // go to go there.
        ++metrics.errors;
        connection->respondError(ErrorCode::BrokerUnavailable,
                                 (broker->available() ? "this server's broker refuses its commands ("
                                                      : "this server cannot reach its broker (") +
                                     broker->state() + ")");
        return;
    }
    std::string transports;
    for (TransportKind kind : kAllTransports) {
        if (!options.settings.isEnabled(kind)) continue;
        if (!transports.empty()) transports += ',';
        transports += std::string("\"") + transportName(kind) + "\"";
    }
    // Without WebSocket there is no URL to announce: null (the key stays, for clients that
    // read it).
    const std::string wsUrl = options.settings.isEnabled(TransportKind::WebSocket) ? "\"" + websocketUrl(request) + "\""
                                                                                   : std::string("null");
    connection->respondJson("{\"protocol\":" + std::to_string(protocol::kProtocolVersion) + ",\"server\":\"pushwire/" +
                            kVersion + "\",\"transports\":[" + transports + "],\"websocket_url\":" + wsUrl +
                            ",\"heartbeat_ms\":" + std::to_string(options.settings.heartbeat.count()) +
                            ",\"epoch\":\"" + hub.epoch() + "\",\"history\":" + std::to_string(options.history) +
                            ",\"max_message_bytes\":" + std::to_string(options.settings.maxMessageBytes) +
                            ",\"longpoll_timeout_ms\":" + std::to_string(options.settings.longPollTimeout.count()) +
                            ",\"tokens\":" + (access.tokens() ? "true" : "false") + "}");
}

nlohmann::json Server::Impl::nodeInfo() const {
    std::int64_t connections = 0;
    for (std::int64_t open : metrics.connections) connections += open;
    const std::int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    return {{"id", nodeId},
            {"version", kVersion},
            {"uptime_s", now - startTimeSeconds},
            {"connections", connections},
            {"subscriptions", hub.listenerCount()},
            {"channels", hub.channelCount()},
            {"broker", {{"kind", broker->describe()}, {"state", broker->state()}, {"available", broker->available()}}}};
}

// 200 while the broker is reachable and its commands work, 503 (with what is wrong) while
// it is not or they all fail: a load balancer takes the node out of rotation until it can
// deliver again.
void Server::Impl::health(HttpConnection& connection) {
    const bool up = broker->healthy();
    const std::vector<BrokerPart> parts = broker->parts();
    // Over several Redis: up while any part is up and not failing (only the channels of a
    // part that is down or failing fail); "degraded" says some are not, and `parts` which.
    bool whole = true;
    nlohmann::json partsJson = nlohmann::json::array();
    for (const BrokerPart& part : parts) {
        const bool working = part.available && !part.failing;
        whole = whole && working;
        partsJson.push_back(
            {{"name", part.name}, {"state", part.state}, {"available", working}, {"failing", part.failing}});
    }
    nlohmann::json body = {{"status", !up     ? "unavailable"
                                      : whole ? "ok"
                                              : "degraded"},
                           {"epoch", hub.epoch()},
                           {"broker", {{"kind", broker->describe()}, {"state", broker->state()}}}};
    if (!parts.empty()) body["broker"]["parts"] = std::move(partsJson);
    connection.respond(up ? 200 : 503, "application/json",
                       body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

std::string Server::Impl::renderMetrics() const {
    std::string out;
    auto family = [&out](const char* name, const char* type, const char* help) {
        out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    };
    auto perTransport = [&](const char* name, const char* type, const char* help, auto values) {
        family(name, type, help);
        for (TransportKind kind : kAllTransports) {
            out += std::string(name) + "{transport=\"" + transportName(kind) + "\"} " +
                   std::to_string(values[static_cast<std::size_t>(kind)]) + "\n";
        }
    };
    // Connections are the streams (WebSocket, SSE); a poll or long-poll is a request, counted
    // apart: one client long-polling makes a request per answer.
    auto byTransport = [&](const char* name, const char* type, const char* help, auto values,
                           const std::array<TransportKind, 2>& kinds) {
        family(name, type, help);
        for (TransportKind kind : kinds) {
            out += std::string(name) + "{transport=\"" + transportName(kind) + "\"} " +
                   std::to_string(values[static_cast<std::size_t>(kind)]) + "\n";
        }
    };
    const std::array<TransportKind, 2> kStreams = {TransportKind::WebSocket, TransportKind::Sse};
    const std::array<TransportKind, 2> kRequests = {TransportKind::LongPoll, TransportKind::Poll};
    byTransport("pushwire_connections", "gauge", "Connections open now: WebSockets and SSE streams.",
                metrics.connections, kStreams);
    byTransport("pushwire_connections_total", "counter", "WebSockets and SSE streams opened.", metrics.connectionsTotal,
                kStreams);
    byTransport("pushwire_requests_total", "counter", "Polls and long-polls answered or held (one per request).",
                metrics.connectionsTotal, kRequests);
    family("pushwire_longpolls_waiting", "gauge", "Long-polls held now, waiting for a message or their timeout.");
    out += "pushwire_longpolls_waiting " +
           std::to_string(metrics.connections[static_cast<std::size_t>(TransportKind::LongPoll)]) + "\n";
    perTransport("pushwire_deliveries_total", "counter", "Messages handed to subscribers.", metrics.deliveries);
    auto single = [&](const char* name, const char* type, const char* help, std::uint64_t value) {
        family(name, type, help);
        out += std::string(name) + " " + std::to_string(value) + "\n";
    };
    single("pushwire_messages_published_total", "counter", "Messages published.", metrics.published);
    single("pushwire_publish_rejected_total", "counter", "Publishes refused.", metrics.publishRejected);
    single("pushwire_publish_repeats_total", "counter",
           "Publishes that repeated an idempotency key: answered with the first one's seq, nothing stored.",
           hub.repeatedCount());
    single("pushwire_errors_total", "counter", "Requests and frames answered with an error.", metrics.errors);
    single("pushwire_gaps_total", "counter", "Gaps reported to subscribers.", metrics.gaps);
    auto* memoryBroker = dynamic_cast<const MemoryBroker*>(broker.get());
    single("pushwire_channels", "gauge",
           "Channels held, as --max-channels counts them: the memory broker's (with Redis: those this node follows).",
           memoryBroker ? memoryBroker->channelCount() : hub.channelCount());
    single("pushwire_followed_channels", "gauge",
           "Channels this node follows: with a subscriber here, or lingering after the last left.", hub.channelCount());
    family("pushwire_build_info", "gauge", "The version and commit of this build (always 1).");
    out += std::string("pushwire_build_info{version=\"") + kVersion + "\",commit=\"" + buildCommit() + "\"} 1\n";
    family("pushwire_web_gzip_total", "counter",
           "--web-root files sent gzipped by this server: compressed for the request, or from the cache.");
    out += "pushwire_web_gzip_total{source=\"compressed\"} " + std::to_string(staticFiles.gzip->compressed()) + "\n";
    out += "pushwire_web_gzip_total{source=\"cache\"} " + std::to_string(staticFiles.gzip->hits()) + "\n";
    single("pushwire_web_gzip_cache_bytes", "gauge", "Bytes of gzipped --web-root files kept.",
           staticFiles.gzip->bytes());
    single("pushwire_presence_members", "gauge",
           "Presence memberships of this node's clients (one per client and presence channel).",
           presence ? presence->memberCount() : 0);
    single("pushwire_presence_store_calls_total", "counter",
           "Calls to the presence store with this node's joins and leaves: each a batch of one channel's changes "
           "(with Redis: one script, one round trip).",
           presence ? presence->batches() : 0);
    single("pushwire_presence_store_failures_total", "counter",
           "Joins and leaves the presence store did not confirm (each tried again a second later).",
           presence ? presence->failures() : 0);
    single("pushwire_presence_over_cap_total", "counter",
           "Presence subscriptions that were no members: the channel had --max-presence-members on this node.",
           presence ? presence->overCap() : 0);
    family("pushwire_join_leave_sent_total", "counter", "Join and leave entries handed to clients.");
    out += "pushwire_join_leave_sent_total{event=\"join\"} " + std::to_string(metrics.joinsSent) + "\n";
    out += "pushwire_join_leave_sent_total{event=\"leave\"} " + std::to_string(metrics.leavesSent) + "\n";
    auto presenceStats = [&](const auto* redis) {
        single("pushwire_presence_refreshes_total", "counter",
               "Presence heartbeats of this node to Redis (every --presence-ttl/3).", redis->refreshes());
        single("pushwire_presence_refresh_round_trips_total", "counter",
               "Redis round trips those heartbeats took (one each, whatever the number of members).",
               redis->refreshRoundTrips());
        single("pushwire_presence_nodes_reaped_total", "counter",
               "Silent nodes whose members this node removed (with their leave entries).", redis->nodesReaped());
        single("pushwire_presence_members_reaped_total", "counter", "Members of silent nodes removed by this node.",
               redis->membersReaped());
    };
    if (auto* one = dynamic_cast<const RedisPresence*>(presenceStore.get())) presenceStats(one);
    if (auto* shards = dynamic_cast<const RoutedPresence*>(presenceStore.get())) presenceStats(shards);
    single("pushwire_memory_trims_total", "counter",
           "Times freed memory was handed back to the system (malloc_trim) after the server shed a lot.",
           trimmer.trims());
    family("pushwire_memory_trim_seconds_total", "counter", "Time those trims took.");
    out += "pushwire_memory_trim_seconds_total " + std::to_string(trimmer.trimSeconds()) + "\n";
    single("pushwire_http_connections", "gauge", "Connections open (both ports).",
           http.connectionCount() + wsHttp.connectionCount());
    single("pushwire_http_requests_total", "counter", "HTTP requests parsed.",
           http.requestCount() + wsHttp.requestCount());
    family("pushwire_write_path", "gauge", "How the server writes to sockets (1 for the one in use).");
    const bool uring = http.writesWithIoUring();
    out += std::string("pushwire_write_path{path=\"io_uring\"} ") + (uring ? "1" : "0") + "\n";
    out += std::string("pushwire_write_path{path=\"sendmsg\"} ") + (uring ? "0" : "1") + "\n";
    single("pushwire_slow_disconnects_total", "counter", "Connections closed because their reader stopped reading.",
           http.slowDisconnects() + wsHttp.slowDisconnects());
    single("pushwire_refused_connections_total", "counter", "Connections refused at --max-connections.",
           http.refusedConnections() + wsHttp.refusedConnections());
    single("pushwire_unauthorized_total", "counter", "Requests, frames and streams refused with 401.",
           metrics.unauthorized);
    single("pushwire_forbidden_total", "counter", "Requests, frames and subscriptions refused with 403.",
           metrics.forbidden);
    single("pushwire_token_expired_total", "counter", "Streams and long-polls closed at their token's exp.",
           metrics.expired);
    std::array<std::uint64_t, kLimitCount> hits = metrics.limitHits;
    hits[static_cast<std::size_t>(Limit::Channels)] += hub.refusedJoins();
    hits[static_cast<std::size_t>(Limit::ConnectionsPerIp)] += http.refusedPerPeer() + wsHttp.refusedPerPeer();
    if (auto* memory = dynamic_cast<const MemoryBroker*>(broker.get())) {
        const auto& limits = memory->limitStats();
        hits[static_cast<std::size_t>(Limit::Channels)] += limits.channelsEvicted + limits.channelsRefused;
        hits[static_cast<std::size_t>(Limit::HistoryBytes)] += limits.messagesEvicted;
        hits[static_cast<std::size_t>(Limit::ChannelTtl)] += limits.channelsExpired;
        single("pushwire_history_bytes", "gauge", "Bytes of history held (--max-history-bytes).",
               memory->historyBytes());
        single("pushwire_broker_channels", "gauge", "Channels the broker holds (--max-channels).",
               memory->channelCount());
    }
    family("pushwire_limit_hits_total", "counter",
           "Times a limit acted: refused a connection, subscribe or publish, or dropped a channel or message.");
    for (std::size_t i = 0; i < kLimitCount; ++i) {
        out += std::string("pushwire_limit_hits_total{limit=\"") + limitName(static_cast<Limit>(i)) + "\"} " +
               std::to_string(hits[i]) + "\n";
    }
    family("pushwire_api_calls_total", "counter",
           "Server API calls (POST /pushwire/api/METHOD), by method and result.");
    for (const auto& [key, calls] : api.calls()) {
        out += "pushwire_api_calls_total{method=\"" + key.first + "\",result=\"" + key.second + "\"} " +
               std::to_string(calls) + "\n";
    }
    single("pushwire_revocations", "gauge", "Users whose tokens are revoked (server API revoke), kept.",
           revocations.size());
    const BrokerStats brokerStats = broker->stats();
    family("pushwire_broker_up", "gauge", "1 while the broker is reachable.");
    out += std::string("pushwire_broker_up{broker=\"") + broker->describe() + "\"} " +
           (broker->available() ? "1" : "0") + "\n";
    family("pushwire_broker_failing", "gauge",
           "1 while the broker is reachable but its recent commands fail (every part that is up).");
    out += std::string("pushwire_broker_failing{broker=\"") + broker->describe() + "\"} " +
           (broker->available() && !broker->healthy() ? "1" : "0") + "\n";
    const std::vector<BrokerPart> parts = broker->parts();
    if (!parts.empty()) {
        // The totals above and below sum every part; these say which part.
        family("pushwire_broker_shard_up", "gauge", "1 while this shard / cluster master is reachable.");
        for (const BrokerPart& part : parts) {
            out += "pushwire_broker_shard_up{shard=\"" + part.name + "\"} " + (part.available ? "1" : "0") + "\n";
        }
        family("pushwire_broker_shard_failing", "gauge",
               "1 while this shard / cluster master is reachable but its recent commands fail.");
        for (const BrokerPart& part : parts) {
            out += "pushwire_broker_shard_failing{shard=\"" + part.name + "\"} " + (part.failing ? "1" : "0") + "\n";
        }
        family("pushwire_broker_shard_error_replies_total", "counter",
               "Commands this shard / cluster master answered with an error.");
        for (const BrokerPart& part : parts) {
            out += "pushwire_broker_shard_error_replies_total{shard=\"" + part.name + "\"} " +
                   std::to_string(part.stats.errorReplies) + "\n";
        }
        family("pushwire_broker_shard_errors_total", "counter", "Commands failed and connections lost, by shard.");
        for (const BrokerPart& part : parts) {
            out += "pushwire_broker_shard_errors_total{shard=\"" + part.name + "\"} " +
                   std::to_string(part.stats.errors) + "\n";
        }
        family("pushwire_broker_shard_commands_total", "counter", "Broker round trips answered, by shard.");
        for (const BrokerPart& part : parts) {
            out += "pushwire_broker_shard_commands_total{shard=\"" + part.name + "\"} " +
                   std::to_string(part.stats.commands) + "\n";
        }
        // A Redis Cluster's slot migrations (any command of this node: broker, presence, server API).
        single("pushwire_broker_cluster_asks_total", "counter",
               "Redis Cluster commands answered ASK (a slot being migrated) and sent to the target with ASKING.",
               RedisConnection::asksFollowed());
        single("pushwire_broker_cluster_tryagains_total", "counter",
               "Redis Cluster commands answered TRYAGAIN (keys split by a MIGRATE) and sent again 50 ms later.",
               RedisConnection::tryAgainsWaited());
    }
    single("pushwire_broker_errors_total", "counter", "Broker commands failed and connections lost.",
           brokerStats.errors);
    single("pushwire_broker_error_replies_total", "counter",
           "Broker commands Redis answered with an error (among pushwire_broker_errors_total).",
           brokerStats.errorReplies);
    single("pushwire_broker_reconnects_total", "counter", "Broker connections made again.", brokerStats.reconnects);
    single("pushwire_broker_filled_total", "counter", "Publications read from history to fill a pub/sub hole.",
           brokerStats.filled);
    family("pushwire_broker_command_seconds", "summary", "Broker round trips (count and total seconds).");
    out += "pushwire_broker_command_seconds_count " + std::to_string(brokerStats.commands) + "\n";
    out += "pushwire_broker_command_seconds_sum " + std::to_string(brokerStats.commandSecondsTotal) + "\n";

    const Hub::LatencyHistogram& latency = hub.publishToWrite();
    family("pushwire_publish_to_write_seconds", "histogram",
           "From a message's publish to its bytes queued for this node's subscribers (ms resolution).");
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= Hub::kLatencyBucketCount; ++i) {
        cumulative += latency.counts[i];
        char le[32];
        if (i < Hub::kLatencyBucketCount) {
            std::snprintf(le, sizeof le, "%g", Hub::kLatencyBuckets[i]);
        } else {
            std::snprintf(le, sizeof le, "+Inf");
        }
        out += std::string("pushwire_publish_to_write_seconds_bucket{le=\"") + le + "\"} " +
               std::to_string(cumulative) + "\n";
    }
    out += "pushwire_publish_to_write_seconds_sum " + std::to_string(latency.sumSeconds) + "\n";
    out += "pushwire_publish_to_write_seconds_count " + std::to_string(latency.count) + "\n";

    // The process, as Prometheus' client libraries name it.
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const double cpu = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                       static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
    family("process_cpu_seconds_total", "counter", "User and system CPU time spent.");
    out += "process_cpu_seconds_total " + std::to_string(cpu) + "\n";
    single("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", MemoryTrimmer::residentBytes());
    std::uint64_t fds = 0;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
        ++fds;
    }
    single("process_open_fds", "gauge", "Open file descriptors.", fds);
    rlimit files{};
    getrlimit(RLIMIT_NOFILE, &files);
    single("process_max_fds", "gauge", "The open file descriptor limit.", static_cast<std::uint64_t>(files.rlim_cur));
    family("process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch, in seconds.");
    out += "process_start_time_seconds " + std::to_string(startTimeSeconds) + "\n";
    return out;
}

Server::Server(Options options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Server::~Server() = default;

void Server::start() {
    if (const std::string& root = impl_->options.webRoot; !root.empty()) {
        std::error_code ec;
        if (!std::filesystem::is_directory(root, ec)) {
            throw std::runtime_error("--web-root " + root + ": " +
                                     (std::filesystem::exists(root, ec) ? "not a directory" : "no such directory"));
        }
    }
    impl_->routes();
    impl_->broker->start();
    if (impl_->cluster) impl_->cluster->start();
    auto startPresence = [this](auto* redis) {
        // Taken for dead while cut off from Redis: this node's members join again.
        redis->onReaped([this] {
            if (impl_->presence) impl_->presence->rejoinAll();
        });
        redis->start();
    };
    if (auto* redis = dynamic_cast<RedisPresence*>(impl_->presenceStore.get())) startPresence(redis);
    if (auto* shards = dynamic_cast<RoutedPresence*>(impl_->presenceStore.get())) startPresence(shards);
    impl_->sweepHub();
    const Options& o = impl_->options;
    try {
        impl_->http.listen(o.host, static_cast<unsigned short>(o.port), o.reusePort);
    } catch (const std::exception& e) {
        throw std::runtime_error("cannot listen on http://" + o.host + ":" + std::to_string(o.port) + ": " + e.what());
    }
    if (o.wsPort >= 0) {
        try {
            impl_->wsHttp.listen(o.host, static_cast<unsigned short>(o.wsPort), o.reusePort);
            impl_->wsHttpListening = true;
        } catch (const std::exception& e) {
            throw std::runtime_error("cannot listen on ws://" + o.host + ":" + std::to_string(o.wsPort) + ": " +
                                     e.what());
        }
    }
    impl_->signals.async_wait([this](const std::error_code& ec, int) {
        if (!ec) stop();
    });
}

void Server::awaitBroker(std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!impl_->broker->available() && impl_->broker->state() == "connecting" &&
           std::chrono::steady_clock::now() < deadline) {
        impl_->io.run_for(std::chrono::milliseconds(20));
    }
    impl_->brokerUp = impl_->broker->healthy();
}

void Server::run() { impl_->io.run(); }

void Server::stop() {
    asio::post(impl_->io, [this] {
        if (impl_->draining) return;
        impl_->draining = true;
        // A second signal while draining stops at once.
        impl_->signals.async_wait([this](const std::error_code& ec, int) {
            if (!ec) impl_->finalStop();
        });
        log::announce(log::Level::Info, "draining",
                      "draining " + std::to_string(impl_->budget.open) + " connections (at most " +
                          std::to_string(impl_->options.drainMs) + " ms)",
                      {log::num("connections", static_cast<long long>(impl_->budget.open)),
                       log::num("drain_ms", impl_->options.drainMs)});
        // Stop accepting; every client is told to go (and resumes elsewhere from its cursor).
        impl_->ws.stop();
        impl_->http.drain();
        impl_->wsHttp.drain();
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(impl_->options.drainMs);
        // Lingering connections have had their last word: they do not hold the exit.
        pollUntil(
            impl_->io, std::chrono::milliseconds(20), deadline,
            [this] { return impl_->http.busy() + impl_->wsHttp.busy() == 0; }, [this] { impl_->finalStop(); });
    });
}

void Server::Impl::finalStop() {
    if (stopped) return;
    stopped = true;
    ws.stop();
    hubSweep.cancel();
    if (cluster) cluster->stop();
    if (auto* redis = dynamic_cast<RedisPresence*>(presenceStore.get())) redis->stop();
    if (auto* shards = dynamic_cast<RoutedPresence*>(presenceStore.get())) shards->stop();
    broker->stop();
    http.stop();
    wsHttp.stop();
    signals.cancel();
    // Give the close frames and final writes a moment, then end the loop.
    auto timer = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(50));
    timer->async_wait([this, timer](const std::error_code&) { io.stop(); });
}

std::string Server::accessSummary() const { return impl_->access.summary(); }

std::string Server::presenceSummary() const {
    const Options& o = impl_->options;
    if (!o.presence && !o.joinLeave) return "";
    const PresenceSettings settings = presenceSettings(o);
    std::string out = "presence on " + (o.presence ? *o.presence : std::string("no channel")) + ", join/leave on " +
                      (o.joinLeave ? *o.joinLeave : std::string("no channel"));
    for (const std::string& pattern : settings.joinLeave.patterns()) {
        bool covered = false;
        for (const std::string& presence : settings.presence.patterns())
            covered = covered || patternMatches(presence, pattern);
        if (!covered) {
            out += "; WARNING: --join-leave " + pattern +
                   " names channels that are not presence channels (--presence): they get no join/leave";
        }
    }
    return out;
}
std::vector<std::string> Server::transports() const {
    std::vector<std::string> names;
    for (TransportKind kind : kAllTransports) {
        if (impl_->options.settings.isEnabled(kind)) names.push_back(transportName(kind));
    }
    return names;
}
bool Server::websocketEnabled() const { return impl_->options.settings.isEnabled(TransportKind::WebSocket); }
std::string Server::brokerName() const { return impl_->broker->describe(); }
std::string Server::brokerState() const { return impl_->broker->state(); }
bool Server::brokerAvailable() const { return impl_->broker->available(); }
bool Server::open() const { return impl_->access.open(); }
bool Server::tls() const { return impl_->tls != nullptr; }

unsigned short Server::httpPort() const { return impl_->http.port(); }
const std::string& Server::writePath() const { return impl_->http.writePath(); }
unsigned short Server::wsPort() const { return impl_->wsHttpListening ? impl_->wsHttp.port() : impl_->http.port(); }

}  // namespace pushwire::server
