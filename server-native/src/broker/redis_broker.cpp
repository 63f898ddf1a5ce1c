#include "broker/redis_broker.hpp"

#include <algorithm>
#include <asio/post.hpp>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <random>

#include "broker/memory_broker.hpp"
#include "front/log.hpp"
#include "front/poll_until.hpp"

namespace pushwire::server {

using protocol::Error;
using protocol::ErrorCode;
using protocol::Gap;
using protocol::GapReason;

namespace {

constexpr std::chrono::milliseconds kCommandTimeout{2000};
constexpr std::chrono::milliseconds kProbeEvery{1000};
constexpr std::chrono::milliseconds kProbeSilence{3000};
constexpr std::chrono::milliseconds kCheckEvery{2000};
constexpr std::size_t kChecksPerRound = 200;
constexpr std::size_t kFillPage = 1000;
// Messages one stream read asks for, in bytes of envelopes (at least one whole message):
// what an honest reply holds stays under RedisConnection::kMaxReplyBytes.
constexpr std::size_t kMaxReadBytes = 32u << 20;
constexpr std::size_t kMaxWaiting = 10000;
// Seqs cross into Lua as doubles: exact up to 2^53.
constexpr std::uint64_t kLuaExact = 1ull << 53;

// Every script starts with life(meta, stream, offer): the channel's epoch, created (its
// stream emptied, its seq 0) when it has none or when the epoch was made by another Redis
// process that this one may not continue. `offer` is "<run_id> <replid> <adoptable>
// <epoch to create>": the run_id and the master_replid of the Redis process the command
// runs on (RedisConnection::kSelf, filled in by the connection that writes it: a command
// redirected by ASK names the target; both learned by INFO on connect), and the run_ids,
// comma-separated ("-": none), of the processes whose lives it may take over. A script run
// on a promoted replica or a restarted Redis (which may lack writes that clients already
// saw under the old epoch) starts a new life instead of handing out the old life's seqs
// again: never two messages under one (epoch, seq).
// The replication id (`q`) binds the epoch to the process's tenure as master too: a
// master demoted and promoted again keeps its run_id and its data, but gets a new
// replication id, and meanwhile another master may have begun a life that clients
// followed; going back to the old one would hand them its messages again (Sentinel does
// this when the new master dies before the old one resynced). A hash without `q` (made
// before it existed) takes this process's on its next script.
// A Redis Cluster reshard is no failover: MIGRATE gives the target the source's exact keys,
// `r` naming the source, a master that still runs. The target continues that life (and
// becomes its `r` and `q`) when the source's run_id is among `adoptable` (the masters of the
// node's current slot map: ClusterBroker::liveMasters()) and the process the script runs
// on holds nothing it did not get in its own lifetime as a master, which the script asks
// of it (INFO, only then): never promoted from a replica (second_repl_offset -1), no keys
// loaded from an RDB at start, no AOF. Anything else: a new life (a spurious gap is the
// safe side; two payloads under one (epoch, seq) never are).
// A channel's first write is one that Redis refuses when out of memory (HSET, not a DEL of
// a stream that is not there): once a script has written, Redis lets it write on whatever
// `maxmemory` says, so a DEL first let every publish to a new channel past `noeviction`.
// What this process holds of the old life is not thrown away: its stream becomes P:{c}:o
// (the old life's epoch in the hash's `o`, kept 5 minutes), a prefix of what the old master
// held (replication is in order), so a node that delivered up to seq N of the old life
// reads N+1... there and delivers them under the old epoch before the new life begins
// (kTailScript): with --broker-wait every acknowledged message is on the promoted replica.
const char* kLifeScript = R"lua(
local function pristine()
  local replication = redis.call('INFO', 'replication')
  if string.match(replication, 'role:(%a+)') ~= 'master' then return false end
  if string.match(replication, 'second_repl_offset:(%-?%d+)') ~= '-1' then return false end
  local persistence = redis.call('INFO', 'persistence')
  return string.match(persistence, 'rdb_last_load_keys_loaded:(%d+)') == '0' and
         string.match(persistence, 'aof_enabled:(%d+)') == '0'
end
local function life(meta, stream, offer)
  local here, tenure, adoptable, fresh = string.match(offer, '^(%S+) (%S+) (%S+) (%S+)$')
  local found = redis.call('HMGET', meta, 'e', 'r', 'q')
  if found[1] and found[2] == here and (found[3] == tenure or not found[3]) then
    if not found[3] then redis.call('HSET', meta, 'q', tenure) end
    return found[1], fresh
  end
  if found[1] and found[2] and found[2] ~= here and
     string.find(',' .. adoptable .. ',', ',' .. found[2] .. ',', 1, true) and pristine() then
    redis.call('HSET', meta, 'r', here, 'q', tenure)
    return found[1], fresh
  end
  if found[1] and redis.call('EXISTS', stream) == 1 then
    local old = string.sub(stream, 1, -2) .. 'o'
    redis.call('RENAME', stream, old)
    redis.call('PEXPIRE', old, 300000)
    redis.call('HSET', meta, 'o', found[1])
  elseif redis.call('EXISTS', stream) == 1 then
    redis.call('DEL', stream)
  end
  redis.call('HSET', meta, 'e', fresh, 's', 0, 'r', here, 'q', tenure)
  return fresh, fresh
end
)lua";

// The old life's rest, as this process holds it: KEYS meta, P:{c}:o; ARGV the old epoch,
// the last seq delivered of it, how many, how many bytes of envelopes (at least one).
// {id1, envelope1, ...}, and a last 'more' when the bytes cut the page short; none when
// the kept stream is of another life (or gone).
const char* kTailScript = R"lua(
if redis.call('HGET', KEYS[1], 'o') ~= ARGV[1] then return {} end
local out = {}
local entries = redis.call('XRANGE', KEYS[2], string.format('%d', tonumber(ARGV[2]) + 1) .. '-0', '+', 'COUNT', ARGV[3])
local bytes, limit = 0, tonumber(ARGV[4])
for _, entry in ipairs(entries) do
  local envelope = entry[2][2]
  if #out > 0 and bytes + #envelope > limit then
    out[#out + 1] = 'more'
    break
  end
  bytes = bytes + #envelope
  out[#out + 1] = entry[1]
  out[#out + 1] = envelope
end
return out
)lua";

// Appends a message: the epoch is created when absent (a channel never published, or
// flushed), the seq assigned, the stream trimmed and the publication announced, in one
// atomic step. A history lost while its position survived (one key evicted) is a new
// life too: its seqs could not be resumed.
// With an idempotency key (KEYS[3], P:{c}:k:KEY), in the same step: a key present answers
// {epoch, seq, time, 1} of the message stored with it and stores nothing; else the new
// message's "epoch seq time" is kept under the key for the window (ARGV[9] ms).
// The pub/sub channel (ARGV[8]) is not among the KEYS: it is no key, and a Redis Cluster
// whose slot is being migrated answers a script naming a key it lacks with ASK (the
// source) or TRYAGAIN (the target), so naming it would refuse every publish of a
// migrating slot. It shares the channel's hash tag, hence its slot.
const char* kPublishScript = R"lua(
local meta, stream, topic = KEYS[1], KEYS[2], ARGV[8]
if KEYS[3] then
  local prior = redis.call('GET', KEYS[3])
  if prior then
    local e, s, t = string.match(prior, '^(%S+) (%d+) (%d+)$')
    if e then return {e, tonumber(s), tonumber(t), 1} end
  end
end
local epoch, fresh = life(meta, stream, ARGV[4])
local seq = redis.call('HINCRBY', meta, 's', 1)
if seq > 1 and redis.call('EXISTS', stream) == 0 then
  epoch = fresh
  seq = 1
  redis.call('HSET', meta, 'e', epoch, 's', 1)
end
local s = string.format('%d', seq)
local envelope = '{"channel":' .. ARGV[1] .. ',"seq":' .. s .. ',"data":' .. ARGV[2] .. ',"time":' .. ARGV[3] .. '}'
redis.call('XADD', stream, 'MAXLEN', ARGV[5], s .. '-0', 'd', envelope)
if ARGV[6] ~= '' then
  redis.call(ARGV[6], topic, epoch .. ' ' .. s .. ' ' .. ARGV[3] .. '\n' .. envelope)
end
if tonumber(ARGV[7]) > 0 then
  redis.call('PEXPIRE', meta, ARGV[7])
  redis.call('PEXPIRE', stream, ARGV[7])
end
if KEYS[3] then
  redis.call('SET', KEYS[3], epoch .. ' ' .. s .. ' ' .. ARGV[3], 'PX', ARGV[9])
end
if ARGV[6] == '' then return {epoch, seq, envelope} end
return {epoch, seq}
)lua";

// Redis errors that refuse a command before it runs (or before a script's first write):
// such a publish was certainly not stored.
bool refusedBeforeRunning(const std::string& error) {
    for (const char* prefix : {"OOM", "BUSY", "LOADING", "NOAUTH", "NOPERM", "WRONGPASS", "READONLY", "MASTERDOWN",
                               "NOREPLICAS", "MISCONF", "NOSCRIPT",
                               // Redis Cluster: the keys are not (or not all, or not yet) on this master.
                               "MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN", "CROSSSLOT"}) {
        if (error.rfind(prefix, 0) == 0) return true;
    }
    return false;
}

// Where a stream stands (created when absent), and what it holds after a seq:
// {epoch, head, first held, id1, envelope1, id2, envelope2, ...}.
const char* kReadScript = R"lua(
local meta, stream = KEYS[1], KEYS[2]
local epoch, fresh = life(meta, stream, ARGV[4])
local head = tonumber(redis.call('HGET', meta, 's'))
local first = 0
local oldest = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)
if #oldest > 0 then
  first = tonumber(string.match(oldest[1][1], '^(%d+)'))
elseif head > 0 then
  epoch = fresh
  head = 0
  redis.call('HSET', meta, 'e', epoch, 's', 0)
end
if tonumber(ARGV[5]) > 0 then
  redis.call('PEXPIRE', meta, ARGV[5])
  redis.call('PEXPIRE', stream, ARGV[5])
end
local out = {epoch, head, first}
local after = tonumber(ARGV[1])
local count = tonumber(ARGV[2])
if count > 0 and head > after then
  local entries = redis.call('XRANGE', stream, string.format('%d', after + 1) .. '-0', '+', 'COUNT', count)
  local bytes, limit = 0, tonumber(ARGV[3])
  for _, entry in ipairs(entries) do
    local envelope = entry[2][2]
    if #out > 3 and bytes + #envelope > limit then break end
    bytes = bytes + #envelope
    out[#out + 1] = entry[1]
    out[#out + 1] = envelope
  end
end
return out
)lua";

Error unavailable(const std::string& why) {
    return Error{ErrorCode::BrokerUnavailable, "the broker is unavailable: " + why};
}

// Why a command got no usable answer. Without a reply (a timeout, the connection lost) the
// broker's state may still read "ok" (a lost connection is noticed after the callbacks
// ran): that says nothing, so the reason is then the missing answer itself.
std::string noAnswer(const RedisValue* reply, const std::string& state) {
    if (reply && reply->isError()) return "Redis answered " + CommandHealth::shown(reply->text);
    if (reply) return "unexpected answer from Redis";
    if (state.empty() || state == "ok") return "no answer from Redis in time, or the connection was lost";
    return state;
}

// One "name:value" line of an INFO answer ("" when absent).
std::string infoField(const std::string& info, const std::string& name) {
    const std::string label = name + ":";
    for (std::size_t at = 0; at < info.size();) {
        std::size_t end = info.find('\n', at);
        if (end == std::string::npos) end = info.size();
        if (info.compare(at, label.size(), label) == 0) {
            std::string value = info.substr(at + label.size(), end - at - label.size());
            while (!value.empty() && (value.back() == '\r' || value.back() == ' ')) value.pop_back();
            return value;
        }
        at = end + 1;
    }
    return "";
}

// A run_id or a replication id as Redis makes them: 40 hex digits (what INFO says is bound
// into every epoch: nothing larger or stranger is taken from a Redis that lies).
bool isRedisId(const std::string& id) {
    return id.size() == 40 &&
           std::all_of(id.begin(), id.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

std::uint64_t seqOfId(const std::string& id) {
    std::uint64_t seq = 0;
    for (char c : id) {
        if (c < '0' || c > '9') break;
        seq = seq * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return seq;
}

}  // namespace

RedisEndpoint redisEndpoint(const BrokerOptions& options) {
    RedisEndpoint endpoint;
    endpoint.host = options.host;
    endpoint.port = options.port;
    endpoint.user = options.user;
    endpoint.password = options.password;
    endpoint.db = options.db;
    endpoint.tls = options.tls;
    endpoint.tlsCa = options.tlsCa;
    endpoint.tlsCert = options.tlsCert;
    endpoint.tlsKey = options.tlsKey;
    endpoint.sentinels = options.sentinels;
    endpoint.masterName = options.masterName;
    endpoint.sentinelPassword = options.sentinelPassword;
    return endpoint;
}

std::unique_ptr<Broker> makeRedisBroker(asio::io_context& io, const BrokerOptions& options, std::size_t historySize) {
    return std::make_unique<RedisBroker>(io, options, historySize);
}

RedisBroker::RedisBroker(asio::io_context& io, const BrokerOptions& options, std::size_t historySize)
    : io_(io),
      options_(options),
      historySize_(std::max<std::size_t>(1, historySize)),
      endpoint_(redisEndpoint(options)),
      nodeId_(randomEpoch()),
      epochs_(randomBits()),
      probeTimer_(io),
      checkTimer_(io),
      commandsRetry_(io),
      subscriberRetry_(io) {
    // Scripts that only read are served by a Redis that refuses writes (OOM): their outcomes
    // are counted apart (CommandHealth).
    scripts_["publish"] = Script{std::string(kLifeScript) + kPublishScript, "", CommandHealth::Kind::Write};
    scripts_["read"] = Script{std::string(kLifeScript) + kReadScript, "", CommandHealth::Kind::Read};
    scripts_["tail"] = Script{kTailScript, "", CommandHealth::Kind::Read};
}

RedisBroker::~RedisBroker() {
    *alive_ = false;
    stopped_ = true;
}

std::string RedisBroker::describe() const {
    if (!options_.sentinels.empty()) {
        std::string hosts;
        for (const auto& [host, port] : options_.sentinels) {
            hosts += (hosts.empty() ? "" : ",") + host + ":" + std::to_string(port);
        }
        return std::string(options_.tls ? "rediss+sentinel://" : "redis+sentinel://") + hosts + "/" +
               options_.masterName;
    }
    return std::string(options_.tls ? "rediss://" : "redis://") + options_.host + ":" + std::to_string(options_.port) +
           "/" + std::to_string(options_.db);
}

std::string RedisBroker::state() const {
    if (available_ && health_.failing()) return health_.state();
    return state_;
}

BrokerStats RedisBroker::stats() const {
    BrokerStats out = stats_;
    out.errorReplies = health_.errorReplies();
    return out;
}

void RedisBroker::noteReply(CommandHealth::Kind kind, const RedisValue* reply) {
    if (!reply) return;  // no answer: the connection's own watch reports that
    if (reply->isError() && mapsHere_ && reply->text.rfind("MOVED ", 0) == 0) {
        // "MOVED <slot> <host:port>": sent on a map read again since, which sends the slot
        // elsewhere now: nothing about this master.
        const long slot = std::strtol(reply->text.c_str() + 6, nullptr, 10);
        if (slot >= 0 && slot < 16384 && !mapsHere_(static_cast<std::uint16_t>(slot))) return;
    }
    if (reply->isError()) {
        health_.failed(kind, reply->text);
    } else {
        health_.succeeded(kind);
    }
}

std::string RedisBroker::key(const std::string& channel, char kind) const {
    return options_.prefix + ":{" + channel + "}:" + kind;
}

std::string RedisBroker::channelKey(const std::string& channel, const std::string& kind) const {
    return options_.prefix + ":{" + channel + "}:" + kind;
}

std::string RedisBroker::channelOf(const std::string& topic) const {
    // P:{channel}:p
    const std::size_t open = options_.prefix.size() + 2;
    if (topic.size() < open + 3) return "";
    return topic.substr(open, topic.size() - open - 3);
}

// Every publish and read offers one (the script keeps it only for a channel without an
// epoch), so it comes from a generator seeded once: a std::random_device per call cost
// a CPUID each, 0.6% of a node's CPU at 100 msg/s to 1000 subscribers.
std::string RedisBroker::newEpoch() { return epochText(epochs_()); }

std::string RedisBroker::lifeOffer() { return RedisConnection::kSelf + " " + newEpoch(); }

// What kSelf becomes on the commands connection: "<run_id> <replid> <adoptable>" (see life()).
std::string RedisBroker::selfText() const {
    std::string list = liveMasters_ ? liveMasters_() : std::string();
    return runId_ + " " + replicationId_ + " " + (list.empty() ? std::string("-") : list);
}

void RedisBroker::start() {
    if (!options_.sentinels.empty()) {
        auto alive = alive_;
        watch_ = std::make_unique<SentinelWatch>(io_, endpoint_, [this, alive](const std::string& host, int port) {
            if (*alive) onMasterSwitched(host, port);
        });
        watch_->start();
    }
    connectCommands();
    connectSubscriber();
    probe();
    checkHeads();
}

void RedisBroker::stop() {
    if (stopped_) return;
    stopped_ = true;
    probeTimer_.cancel();
    checkTimer_.cancel();
    commandsRetry_.cancel();
    subscriberRetry_.cancel();
    if (watch_) watch_->stop();
    if (commands_) commands_->close("stopping");
    if (subscriber_) subscriber_->close("stopping");
}

// ---------------------------------------------------------------- connections

void RedisBroker::connectCommands() {
    if (stopped_) return;
    commands_ = std::make_unique<RedisConnection>(io_, endpoint_, kCommandTimeout);
    RedisConnection* connection = commands_.get();
    auto alive = alive_;
    connection->onClosed([this, alive](const std::string& why) {
        if (*alive) onCommandsLost(why);
    });
    connection->self([this, alive] { return *alive ? selfText() : std::string("? ? -"); });
    if (redirect_) connection->onRedirect(redirect_);
    connection->connect([this, alive, connection](std::optional<std::string> error) {
        if (!*alive || connection != commands_.get()) return;
        if (error) {
            connectFailed(true, *error);
            return;
        }
        // One INFO (its default sections) tells all the handshake needs: the version, the
        // process (server), its role and tenure (replication), whether it is loading its
        // dataset (persistence) and whether it runs in cluster mode (cluster).
        connection->command({"INFO"}, [this, alive, connection](const RedisValue* reply) {
            if (!*alive || connection != commands_.get()) return;
            const std::string info = reply && reply->isString() ? reply->text : std::string();
            // A Sentinel answers PING and INFO too (run_id, no role): without this it would be
            // taken for a replica ("role:"), which names neither the cause nor the fix.
            if (infoField(info, "redis_mode") == "sentinel") {
                refuse(connection,
                       "this is a Redis Sentinel (INFO redis_mode:sentinel), not a Redis: use "
                       "redis+sentinel://host:port/MASTER-NAME (the sentinels' addresses and the name of the "
                       "master they watch)",
                       "broker_misconfigured", true);
                return;
            }
            const std::string version = infoField(info, "redis_version");
            sharded_ = !version.empty() && std::atoi(version.c_str()) >= 7;
            // The process this connection reaches: every epoch it makes is bound to it.
            const std::string run = infoField(info, "run_id");
            if (!isRedisId(run)) {
                const std::string why =
                    "INFO did not name the Redis process (run_id, 40 hex digits): " +
                    (reply && reply->isError() ? CommandHealth::shown(reply->text)
                                               : std::string(run.empty() ? "no run_id" : "not 40 hex digits"));
                connection->close(why);
                onCommandsLost(why);
                return;
            }
            // The wrong scheme for this Redis: redis:// on a cluster node would be answered
            // MOVED for every channel of another master's slots; redis+cluster:// on a Redis
            // without cluster mode would read no slot map. Said once, and tried again (the
            // Redis at that address may be replaced).
            const bool clusterNode = infoField(info, "cluster_enabled") == "1";
            if (clusterNode != options_.cluster) {
                refuse(connection,
                       clusterNode
                           ? "this Redis is a Redis Cluster node (INFO cluster_enabled:1): use "
                             "redis+cluster://host:port (rediss+cluster:// over TLS)"
                           : "this Redis is not in cluster mode (INFO cluster_enabled:0): use redis://host:port "
                             "(rediss:// over TLS), or enable cluster mode",
                       "broker_misconfigured", true);
                return;
            }
            // Began loading since the handshake's PING (see connectFailed()).
            if (infoField(info, "loading") == "1") {
                refuse(connection, loadingState("INFO loading:1"), "broker_loading", false);
                return;
            }
            runId_ = run;
            const std::string tenure = infoField(info, "master_replid");
            // A replica cannot run the scripts (they write), and its replication id is not a
            // tenure as master yet: wait until it is promoted (or Sentinel names another).
            if (const std::string role = infoField(info, "role"); role != "master") {
                // Its master's address, when it names one: the address to give instead (or
                // redis+sentinel://, to follow the master through failovers). Said once.
                const std::string host = infoField(info, "master_host"), port = infoField(info, "master_port");
                const std::string master =
                    host.empty() || port.empty() ? std::string() : CommandHealth::shown(host + ":" + port);
                refuse(connection,
                       "the Redis reached is a replica (INFO replication role:" + CommandHealth::shown(role) +
                           "), not a master" +
                           (master.empty() ? std::string()
                                           : "; its master is " + master +
                                                 " (give that address, or redis+sentinel:// to follow failovers)"),
                       "broker_replica", false);
                return;
            }
            if (!isRedisId(tenure)) {
                const std::string why = "INFO did not name the replication id (master_replid, 40 hex digits)";
                connection->close(why);
                onCommandsLost(why);
                return;
            }
            replicationId_ = tenure;
            refused_.clear();
            loadScripts([this, alive, connection](bool ok) {
                if (!*alive || connection != commands_.get()) return;
                if (!ok) {
                    connection->close("script load failed");
                    onCommandsLost("could not load the broker's scripts");
                    return;
                }
                commandsAttempts_ = 0;
                commandsReady_ = true;
                health_.reset();
                updateAvailability();
                // Channels whose sync waited on commands, and the subscriptions made meanwhile.
                for (auto& [channel, followed] : followed_) {
                    if (followed.stage == Followed::Stage::Syncing && !followed.filling) sync(channel);
                }
            });
        });
    });
}

// A Redis restarting with its data (an RDB or AOF being read) answers LOADING to nearly
// every command, the handshake's PING too, until it is done: a state of its own, said
// once, and tried again until it ends.
std::string RedisBroker::loadingState(const std::string& seen) {
    return "loading: Redis is loading its dataset into memory (" + seen + "); retried until it is done";
}

void RedisBroker::connectFailed(bool commands, const std::string& error) {
    const bool loading = error.find(": LOADING") != std::string::npos;
    state_ = loading ? loadingState(error) : error;
    if (loading && refused_ != "broker_loading") {
        refused_ = "broker_loading";
        log::write(log::Level::Warn, "broker_loading", {{"broker", describe()}, {"state", state_}});
    }
    ++stats_.errors;
    endpoint_.announcedPort = 0;  // ask the sentinels again
    retryLater(commands);
}

// The Redis reached cannot serve as it is: the connection goes, and is made again later.
// The reason is the broker's state (healthz, and every 503 meanwhile), logged once while
// it stays the same kind.
void RedisBroker::refuse(RedisConnection* connection, const std::string& why, const char* event, bool misconfigured) {
    connection->close(why);
    commandsReady_ = false;
    state_ = why;
    if (refused_ != event) {
        refused_ = event;
        log::write(misconfigured ? log::Level::Error : log::Level::Warn, event,
                   {{"broker", describe()}, {"address", connection->address()}, {"state", why}});
    }
    ++stats_.errors;
    updateAvailability();
    retryLater(true);
}

void RedisBroker::connectSubscriber() {
    if (stopped_) return;
    subscriber_ = std::make_unique<RedisConnection>(io_, endpoint_, kCommandTimeout);
    RedisConnection* connection = subscriber_.get();
    auto alive = alive_;
    connection->onPush([this, alive](const RedisValue& push) {
        if (*alive) onPush(push);
    });
    connection->onClosed([this, alive](const std::string& why) {
        if (*alive) onSubscriberLost(why);
    });
    connection->connect([this, alive, connection](std::optional<std::string> error) {
        if (!*alive || connection != subscriber_.get()) return;
        if (error) {
            connectFailed(false, *error);
            return;
        }
        // Subscribing is what tells the server about sharded pub/sub: wait for commands to
        // have read the version (they connect at the same time).
        auto begin = [this, alive, connection] {
            if (!*alive || connection != subscriber_.get()) return;
            subscriberAttempts_ = 0;
            subscriberReady_ = true;
            lastProbeSeen_ = std::chrono::steady_clock::now();
            subscriber_->send({"SUBSCRIBE", options_.prefix + ":node:" + nodeId_});
            subscribeAll();
            updateAvailability();
        };
        if (commandsReady_) {
            begin();
        } else {
            // At most a few seconds; then subscribe in the classic way.
            pollUntil(
                io_, std::chrono::milliseconds(50), std::chrono::steady_clock::now() + std::chrono::seconds(3),
                [this, alive] { return !*alive || commandsReady_; }, begin);
        }
    });
}

void RedisBroker::addScript(const std::string& name, std::string text, CommandHealth::Kind kind) {
    scripts_[name] = Script{std::string(kLifeScript) + text, "", kind};
}

void RedisBroker::loadScripts(std::function<void(bool)> done) {
    auto remaining = std::make_shared<int>(static_cast<int>(scripts_.size()));
    auto ok = std::make_shared<bool>(true);
    for (auto& [name, script] : scripts_) {
        commands_->command({"SCRIPT", "LOAD", script.text},
                           [target = &script, remaining, ok, done](const RedisValue* reply) {
                               if (reply && reply->isString()) {
                                   target->sha = reply->text;
                               } else {
                                   *ok = false;
                               }
                               if (--*remaining == 0) done(*ok);
                           });
    }
}

void RedisBroker::onCommandsLost(const std::string& why) {
    if (stopped_) return;
    const bool wasReady = commandsReady_;
    commandsReady_ = false;
    state_ = "commands connection lost: " + why;
    // Why a working Redis went (the node's once-a-second watch sees only up and down): said
    // by the first of its two connections to go; attempts that fail while Redis stays away
    // are not repeated here.
    if (wasReady && available_)
        log::write(log::Level::Warn, "broker_connection_lost", {{"broker", describe()}, {"state", state_}}, true);
    ++stats_.errors;
    updateAvailability();
    retryLater(true);
}

void RedisBroker::onSubscriberLost(const std::string& why) {
    if (stopped_) return;
    const bool wasReady = subscriberReady_;
    subscriberReady_ = false;
    state_ = "subscriber connection lost: " + why;
    if (wasReady && available_)
        log::write(log::Level::Warn, "broker_connection_lost", {{"broker", describe()}, {"state", state_}}, true);
    ++stats_.errors;
    // Every followed channel is read forward from what was delivered once subscribed again.
    // What was heard and not yet delivered stays: it was published (a failover may end the
    // life, and then it goes out before the new one begins).
    for (auto& [channel, followed] : followed_) followed.stage = Followed::Stage::Subscribing;
    toSubscribe_.clear();
    toUnsubscribe_.clear();
    updateAvailability();
    retryLater(false);
}

// Sentinel announced a new master (+switch-master): a connection that is not on it now is
// dropped and made again after the first backoff step (50-100 ms: a connection object is
// not destroyed in the turn it was closed, while its socket's read may still be completing).
void RedisBroker::onMasterSwitched(const std::string& host, int port) {
    if (stopped_) return;
    const std::string to = host + ":" + std::to_string(port);
    const std::string why = "Sentinel switched the master to " + to;
    // The next connections go there without asking (a sentinel other than the one that
    // announced it may not know yet); until one fails there.
    endpoint_.announcedHost = host;
    endpoint_.announcedPort = port;
    if (!(commandsReady_ && commands_ && commands_->connected() && commands_->address() == to)) {
        if (commands_) commands_->close(why);
        commandsAttempts_ = 0;
        onCommandsLost(why);
    }
    if (!(subscriberReady_ && subscriber_ && subscriber_->connected() && subscriber_->address() == to)) {
        if (subscriber_) subscriber_->close(why);
        subscriberAttempts_ = 0;
        onSubscriberLost(why);
    }
}

// Reconnects with backoff: 100 ms doubling to 2 s (Sentinel: 500 ms), with jitter; `now`:
// at once (replacing a wait already set).
void RedisBroker::retryLater(bool commands, bool now) {
    if (stopped_) return;
    int& attempts = commands ? commandsAttempts_ : subscriberAttempts_;
    asio::steady_timer& timer = commands ? commandsRetry_ : subscriberRetry_;
    // With Sentinel at most 500 ms: a failover names a new master within seconds, and asking
    // the sentinels again is cheap.
    const int ceiling = std::min(options_.sentinels.empty() ? 2000 : 500, 100 << std::min(attempts, 5));
    ++attempts;
    ++stats_.reconnects;
    static thread_local std::mt19937 random{std::random_device{}()};
    const int delay = now ? 0 : ceiling / 2 + static_cast<int>(random() % static_cast<unsigned>(ceiling / 2 + 1));
    timer.expires_after(std::chrono::milliseconds(delay));
    auto alive = alive_;
    timer.async_wait([this, alive, commands](const std::error_code& ec) {
        if (!*alive || ec || stopped_) return;
        if (commands) {
            connectCommands();
        } else {
            connectSubscriber();
        }
    });
}

void RedisBroker::updateAvailability() {
    const bool available = commandsReady_ && subscriberReady_;
    if (available) endpoint_.announcedPort = 0;  // both reached it: ask the sentinels from now on
    if (available) state_ = "ok";
    if (available == available_) return;
    available_ = available;
    if (handler_) handler_->onAvailability(available_, state_);
}

// ---------------------------------------------------------------- subscriptions

void RedisBroker::follow(const std::string& channel) {
    auto [it, added] = followed_.try_emplace(channel);
    if (!added) return;
    toUnsubscribe_.erase(channel);
    toSubscribe_.insert(channel);
    flushSubscriptions();
}

void RedisBroker::unfollow(const std::string& channel) {
    if (followed_.erase(channel) == 0) return;
    toSubscribe_.erase(channel);
    toUnsubscribe_.insert(channel);
    flushSubscriptions();
}

void RedisBroker::subscribeAll() {
    for (auto& [channel, followed] : followed_) toSubscribe_.insert(channel);
    flushSubscriptions();
}

// Subscription changes of one turn go in one command each way.
void RedisBroker::flushSubscriptions() {
    if (subscriptionsPosted_) return;
    subscriptionsPosted_ = true;
    auto alive = alive_;
    asio::post(io_, [this, alive] {
        if (!*alive) return;
        subscriptionsPosted_ = false;
        if (!subscriberReady_ || !subscriber_) return;  // subscribeAll() runs once connected
        // On a Redis Cluster one SSUBSCRIBE names channels of one slot only (else CROSSSLOT).
        const std::size_t perCommand = options_.cluster ? 1 : 256;
        auto sendAll = [this, perCommand](const char* verb, std::set<std::string>& channels) {
            std::vector<std::string> args{verb};
            for (const std::string& channel : channels) {
                args.push_back(key(channel, 'p'));
                if (args.size() > perCommand) {
                    subscriber_->send(args);
                    args.resize(1);
                }
            }
            if (args.size() > 1) subscriber_->send(args);
            channels.clear();
        };
        sendAll(sharded_ ? "SUNSUBSCRIBE" : "UNSUBSCRIBE", toUnsubscribe_);
        sendAll(sharded_ ? "SSUBSCRIBE" : "SUBSCRIBE", toSubscribe_);
    });
}

void RedisBroker::onPush(const RedisValue& push) {
    if (push.type != RedisValue::Type::Array || push.elements.size() < 3) return;
    const std::string& kind = push.elements[0].text;
    const std::string& topic = push.elements[1].text;
    if (kind == "subscribe" || kind == "ssubscribe") {
        if (topic.rfind(options_.prefix + ":node:", 0) == 0) return;
        auto it = followed_.find(channelOf(topic));
        if (it != followed_.end() && it->second.stage == Followed::Stage::Subscribing) sync(it->first);
    } else if (kind == "message" || kind == "smessage") {
        if (topic == options_.prefix + ":node:" + nodeId_) {
            lastProbeSeen_ = std::chrono::steady_clock::now();
            return;
        }
        onPublished(topic, push.elements[2].text);
    }
}

// ---------------------------------------------------------------- delivery

void RedisBroker::sync(const std::string& channel) {
    auto it = followed_.find(channel);
    if (it == followed_.end()) return;
    Followed& followed = it->second;
    followed.stage = Followed::Stage::Syncing;
    if (!commandsReady_) return;  // resumed when commands are back
    followed.filling = true;
    const std::uint64_t after = followed.known ? followed.head.seq : 0;
    const std::size_t count = followed.known ? kFillPage : 0;
    auto alive = alive_;
    readStream(channel, after, count, kMaxReadBytes, [this, alive, channel](protocol::Result<HistoryPage> result) {
        if (!*alive) return;
        auto entry = followed_.find(channel);
        if (entry == followed_.end()) return;
        entry->second.filling = false;
        if (!result) return;  // commands lost: synced again once they are back
        HistoryPage& page = *result;
        const bool tailRead = entry->second.tailRead;
        entry->second.tailRead = false;
        // A new life: what this Redis kept of the old one after what was delivered (with
        // --broker-wait every acknowledged message), then what pub/sub brought of it next,
        // was really published there; it goes out before the old life ends.
        if (entry->second.known && page.head.epoch != entry->second.head.epoch) {
            if (!tailRead) {
                finishLife(channel);
                return;
            }
            deliverHeard(channel);
            entry = followed_.find(channel);
            if (entry == followed_.end()) return;
            const std::string old = entry->second.head.epoch;
            auto& waiting = entry->second.waiting;
            for (auto at = waiting.begin(); at != waiting.end();) {
                at = at->second->epoch == old ? waiting.erase(at) : std::next(at);
            }
        }
        Followed& state = entry->second;
        if (state.known && page.head.epoch == state.head.epoch) {
            // Heard of another life that the stream does not show (yet): the head checks
            // find that life once the commands connection reaches its Redis.
            auto& waiting = state.waiting;
            for (auto at = waiting.begin(); at != waiting.end();) {
                at = at->second->epoch != state.head.epoch ? waiting.erase(at) : std::next(at);
            }
        }
        if (!state.known || page.head.epoch != state.head.epoch || page.gap) {
            // First sight, a new life, or more missed than history holds: the node follows
            // from the stream's head, and its listeners read what they lack from history.
            state.known = true;
            state.head = page.head;
            state.stage = Followed::Stage::Live;
            if (handler_) handler_->onFollow(channel, page.head);
            drainWaiting(channel);
            return;
        }
        for (const MessagePtr& message : page.messages) {
            auto again = followed_.find(channel);
            if (again == followed_.end()) return;
            if (message->seq == again->second.head.seq + 1) deliver(channel, again->second, message);
        }
        auto again = followed_.find(channel);
        if (again == followed_.end()) return;
        if (page.more) {
            sync(channel);
            return;
        }
        again->second.stage = Followed::Stage::Live;
        drainWaiting(channel);
    });
}

void RedisBroker::follow(const std::string& channel, const StreamHead& delivered) {
    auto [it, added] = followed_.try_emplace(channel);
    if (!added) return;
    it->second.known = !delivered.epoch.empty();
    it->second.head = delivered;
    toUnsubscribe_.erase(channel);
    toSubscribe_.insert(channel);
    flushSubscriptions();
}

std::optional<StreamHead> RedisBroker::delivered(const std::string& channel) const {
    auto it = followed_.find(channel);
    if (it == followed_.end() || !it->second.known) return std::nullopt;
    return it->second.head;
}

void RedisBroker::onPublished(const std::string& topic, const std::string& payload) {
    // "epoch seq time\n" + envelope
    const std::size_t space1 = payload.find(' ');
    const std::size_t space2 = payload.find(' ', space1 + 1);
    const std::size_t newline = payload.find('\n', space2 + 1);
    if (space1 == std::string::npos || space2 == std::string::npos || newline == std::string::npos) return;
    const std::string channel = channelOf(topic);
    auto it = followed_.find(channel);
    if (it == followed_.end()) return;
    auto message = std::make_shared<Message>();
    message->channel = channel;
    message->epoch = payload.substr(0, space1);
    message->seq = seqOfId(payload.substr(space1 + 1, space2 - space1 - 1));
    message->timeMs = static_cast<std::int64_t>(seqOfId(payload.substr(space2 + 1, newline - space2 - 1)));
    message->envelope = payload.substr(newline + 1);
    message->event = protocol::entryEventOf(message->envelope);
    Followed& followed = it->second;
    if (followed.waiting.size() >= kMaxWaiting) followed.waiting.clear();  // the stream has them all
    followed.waiting[message->seq] = std::move(message);
    if (followed.stage == Followed::Stage::Live && !followed.filling) drainWaiting(channel);
}

// The old life's rest as the Redis reached now holds it (after a failover: the promoted
// replica's copy of the old master's stream, kept by life()), delivered under the old
// epoch after what was delivered; then sync() again, which begins the new life.
void RedisBroker::finishLife(const std::string& channel) {
    auto it = followed_.find(channel);
    if (it == followed_.end()) return;
    Followed& followed = it->second;
    followed.filling = true;
    const std::string epoch = followed.head.epoch;
    auto alive = alive_;
    runScript("tail", {key(channel, 'm'), key(channel, 'o')},
              {epoch, std::to_string(std::min(followed.head.seq, kLuaExact)), std::to_string(kFillPage),
               std::to_string(kMaxReadBytes)},
              [this, alive, channel, epoch](const RedisValue* reply) {
                  if (!*alive) return;
                  auto entry = followed_.find(channel);
                  if (entry == followed_.end()) return;
                  entry->second.filling = false;
                  if (!reply) return;  // commands lost: synced again once they are back
                  std::size_t read = 0;
                  bool more = false;
                  if (reply->type == RedisValue::Type::Array) {
                      more = reply->elements.size() % 2 == 1;
                      for (std::size_t i = 0; i + 1 < reply->elements.size(); i += 2) {
                          ++read;
                          auto message = std::make_shared<Message>();
                          message->channel = channel;
                          message->seq = seqOfId(reply->elements[i].text);
                          message->epoch = epoch;
                          message->envelope = reply->elements[i + 1].text;
                          message->event = protocol::entryEventOf(message->envelope);
                          auto again = followed_.find(channel);
                          if (again == followed_.end()) return;
                          if (again->second.head.epoch == epoch && message->seq == again->second.head.seq + 1) {
                              deliver(channel, again->second, message);
                          }
                      }
                  }
                  entry = followed_.find(channel);
                  if (entry == followed_.end()) return;
                  if (read == kFillPage || (more && read > 0)) {
                      finishLife(channel);
                      return;
                  }
                  entry->second.tailRead = true;  // an error too: the rest is not to be had
                  sync(channel);
              });
}

// Delivers the waiting publications of the current life that follow what was delivered,
// in order; true when it delivered any.
bool RedisBroker::deliverHeard(const std::string& channel) {
    bool any = false;
    for (;;) {
        auto it = followed_.find(channel);
        if (it == followed_.end()) return any;
        Followed& followed = it->second;
        auto next = followed.waiting.find(followed.head.seq + 1);
        if (next == followed.waiting.end() || next->second->epoch != followed.head.epoch) return any;
        MessagePtr message = next->second;
        followed.waiting.erase(next);
        deliver(channel, followed, message);
        any = true;
    }
}

void RedisBroker::deliver(const std::string&, Followed& followed, const MessagePtr& message) {
    followed.head.seq = message->seq;
    if (handler_) handler_->onPublication(message);
}

// Delivers what waits, in seq order; a hole is read from the stream first.
void RedisBroker::drainWaiting(const std::string& channel) {
    for (;;) {
        auto it = followed_.find(channel);
        if (it == followed_.end()) return;
        Followed& followed = it->second;
        if (followed.stage != Followed::Stage::Live || followed.filling || followed.waiting.empty()) return;
        // A publication of another life: the stream was flushed or evicted (or Redis failed
        // over) and began anew. What was heard of the old life, in order, goes out first.
        if (deliverHeard(channel)) continue;
        // The stream is read first: its Redis may still hold the old life's rest.
        auto newer = std::find_if(followed.waiting.begin(), followed.waiting.end(),
                                  [&](const auto& entry) { return entry.second->epoch != followed.head.epoch; });
        if (newer != followed.waiting.end()) {
            ++stats_.filled;
            sync(channel);
            return;
        }
        auto first = followed.waiting.begin();
        if (first->first <= followed.head.seq) {
            followed.waiting.erase(first);
            continue;
        }
        if (first->first == followed.head.seq + 1) {
            MessagePtr message = first->second;
            followed.waiting.erase(first);
            deliver(channel, followed, message);
            continue;
        }
        // A hole: pub/sub lost what lies between. Read it from the stream.
        ++stats_.filled;
        sync(channel);
        return;
    }
}

// Every second, a publication to this node's own topic: the subscriber connection must
// hear it back. Silence for kProbeSilence means the connection is deaf though open.
void RedisBroker::probe() {
    if (stopped_) return;
    probeTimer_.expires_after(kProbeEvery);
    auto alive = alive_;
    probeTimer_.async_wait([this, alive](const std::error_code& ec) {
        if (!*alive || ec || stopped_) return;
        if (commandsReady_ && subscriberReady_) {
            // Deaf is silent: a subscriber still receiving (a backlog of publications ahead of
            // the probe, read late by a busy loop) is not.
            if (std::chrono::steady_clock::now() - lastProbeSeen_ > kProbeSilence &&
                !subscriber_->heardWithin(std::chrono::duration_cast<std::chrono::milliseconds>(kProbeSilence))) {
                const std::string why = "no pub/sub probe heard back in 3 s";
                subscriber_->close(why);
                onSubscriberLost(why);
            } else {
                commands_->command({"PUBLISH", options_.prefix + ":node:" + nodeId_, std::to_string(++probesSent_)},
                                   [](const RedisValue*) {});
            }
        }
        probe();
    });
}

// Every two seconds a round of followed channels is checked against the stream's head:
// a publication pub/sub lost while nothing followed it is found here, and so is a
// flushed channel (its head read creates its new epoch).
void RedisBroker::checkHeads() {
    if (stopped_) return;
    checkTimer_.expires_after(kCheckEvery);
    auto alive = alive_;
    checkTimer_.async_wait([this, alive](const std::error_code& ec) {
        if (!*alive || ec || stopped_) return;
        if (commandsReady_ && !followed_.empty()) {
            std::vector<std::string> round;
            if (checkCursor_ >= followed_.size()) checkCursor_ = 0;
            auto start = std::next(followed_.begin(), static_cast<std::ptrdiff_t>(checkCursor_));
            for (auto at = start; at != followed_.end() && round.size() < kChecksPerRound; ++at)
                round.push_back(at->first);
            checkCursor_ += round.size();
            for (const std::string& channel : round) {
                auto found = followed_.find(channel);
                if (found == followed_.end() || found->second.filling) continue;
                // A sync whose read Redis refused (CLUSTERDOWN from a cluster node that is
                // back before the cluster is, LOADING, ...) on a connection that stays up:
                // nothing else reads it again, and the channel would wait, silent, for ever.
                if (found->second.stage == Followed::Stage::Syncing) {
                    sync(channel);
                    continue;
                }
                if (found->second.stage != Followed::Stage::Live) continue;
                readStream(channel, 0, 0, 0, [this, alive, channel](protocol::Result<HistoryPage> result) {
                    if (!*alive || !result) return;
                    auto current = followed_.find(channel);
                    if (current == followed_.end() || current->second.stage != Followed::Stage::Live ||
                        current->second.filling) {
                        return;
                    }
                    const StreamHead& now = result->head;
                    const StreamHead& known = current->second.head;
                    if (now.epoch != known.epoch || now.seq > known.seq) {
                        ++stats_.filled;
                        sync(channel);
                    }
                });
            }
        }
        checkHeads();
    });
}

// ---------------------------------------------------------------- commands

void RedisBroker::runScript(const std::string& name, std::vector<std::string> keys, std::vector<std::string> args,
                            RedisConnection::Callback done) {
    const auto script = scripts_.find(name);
    if (!commandsReady_ || !commands_ || script == scripts_.end()) {
        done(nullptr);
        return;
    }
    // Built once and shared by the connection (kept for a redirect) and the NOSCRIPT retry
    // below: the payload among the arguments is not copied again.
    auto built = std::make_shared<std::vector<std::string>>();
    built->reserve(3 + keys.size() + args.size());
    built->push_back("EVALSHA");
    built->push_back(script->second.sha);
    built->push_back(std::to_string(keys.size()));
    built->insert(built->end(), std::make_move_iterator(keys.begin()), std::make_move_iterator(keys.end()));
    built->insert(built->end(), std::make_move_iterator(args.begin()), std::make_move_iterator(args.end()));
    std::shared_ptr<const std::vector<std::string>> command = std::move(built);
    const auto started = std::chrono::steady_clock::now();
    const Script* lua = &script->second;  // scripts_ only grows (addScript before start): stays valid
    auto alive = alive_;
    commands_->command(command, [this, alive, lua, command, started, done](const RedisValue* reply) {
        if (!*alive) return;
        ++stats_.commands;
        stats_.commandSecondsTotal += std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        if (reply && reply->isError() && reply->text.rfind("NOSCRIPT", 0) == 0 && commands_) {
            // Redis restarted without its script cache: send the script itself. Its answer
            // is counted and acted on as the first attempt's would be.
            std::vector<std::string> retry = *command;
            retry[0] = "EVAL";
            retry[1] = lua->text;
            commands_->command(retry, [this, alive, lua, done](const RedisValue* again) {
                if (!*alive) return;
                ++stats_.commands;
                scriptAnswered(lua->kind, again);
                done(again);
            });
            return;
        }
        scriptAnswered(lua->kind, reply);
        done(reply);
    });
}

void RedisBroker::scriptAnswered(CommandHealth::Kind kind, const RedisValue* reply) {
    noteReply(kind, reply);
    if (!reply || reply->isError()) ++stats_.errors;
    if (reply && reply->isError() && reply->text.rfind("READONLY", 0) == 0 && commands_ && commands_->connected()) {
        // The master this connection reached was demoted: connect again (with Sentinel: ask
        // the sentinels), and learn its tenure anew once it is a master (life() above).
        const std::string why = "the Redis reached is no longer the master (" + reply->text + ")";
        commands_->close(why);
        onCommandsLost(why);
    }
}

void RedisBroker::command(const std::vector<std::string>& args, RedisConnection::Callback done) {
    if (!commandsReady_ || !commands_) {
        done(nullptr);
        return;
    }
    auto alive = alive_;
    commands_->command(args, [this, alive, done](const RedisValue* reply) {
        if (!*alive) return;
        ++stats_.commands;
        noteReply(CommandHealth::Kind::Write, reply);  // WAIT, announcements, presence's registry
        if (!reply || reply->isError()) ++stats_.errors;
        done(reply);
    });
}

void RedisBroker::readStream(const std::string& channel, std::uint64_t after, std::size_t limit, std::size_t maxBytes,
                             std::function<void(protocol::Result<HistoryPage>)> done) {
    after = std::min(after, kLuaExact);
    runScript("read", {key(channel, 'm'), key(channel, 's')},
              {std::to_string(after), std::to_string(limit), std::to_string(std::min<std::size_t>(maxBytes, kLuaExact)),
               lifeOffer(), std::to_string(options_.channelTtlMs)},
              [this, channel, after, limit, done](const RedisValue* reply) {
                  if (!reply || reply->type != RedisValue::Type::Array || reply->elements.size() < 3) {
                      done(unavailable(noAnswer(reply, state_)));
                      return;
                  }
                  HistoryPage page;
                  page.head.epoch = reply->elements[0].text;
                  page.head.seq = static_cast<std::uint64_t>(std::max(0LL, reply->elements[1].integer));
                  const auto first = static_cast<std::uint64_t>(std::max(0LL, reply->elements[2].integer));
                  std::uint64_t last = std::min(after, page.head.seq);
                  for (std::size_t i = 3; i + 1 < reply->elements.size(); i += 2) {
                      auto message = std::make_shared<Message>();
                      message->channel = channel;
                      message->seq = seqOfId(reply->elements[i].text);
                      message->epoch = page.head.epoch;
                      message->envelope = reply->elements[i + 1].text;
                      message->event = protocol::entryEventOf(message->envelope);
                      last = message->seq;
                      page.messages.push_back(std::move(message));
                  }
                  const std::uint64_t from = std::min(after, page.head.seq) + 1;
                  if (limit > 0 && first > from && from <= page.head.seq) {
                      page.gap = Gap{channel, from, first - 1, GapReason::HistoryEvicted, ""};
                  }
                  page.more = limit > 0 && last < page.head.seq;
                  done(std::move(page));
              });
}

void RedisBroker::publish(const std::string& channel, std::string dataJson, std::int64_t timeMs, PublishDone done) {
    publishOnce(channel, std::move(dataJson), timeMs, std::string(), std::move(done));
}

void RedisBroker::publishOnce(const std::string& channel, std::string dataJson, std::int64_t timeMs,
                              const std::string& idempotencyKey, PublishDone done) {
    // Not sent at all: certainly not stored.
    if (!commandsReady_ || !commands_ || !commands_->connected()) {
        done(unavailable(noAnswer(nullptr, state_)));
        return;
    }
    const std::string time = std::to_string(timeMs);
    auto data = std::make_shared<std::string>(std::move(dataJson));
    std::vector<std::string> keys{key(channel, 'm'), key(channel, 's')};
    // Built one by one: a braced list would copy the payload twice (into the list, then out).
    std::vector<std::string> args;
    args.reserve(9);
    args.push_back("\"" + channel + "\"");
    args.push_back(*data);
    args.push_back(time);
    args.push_back(lifeOffer());
    args.push_back(std::to_string(historySize_));
    // With --broker-wait the script stores and the node announces after WAIT.
    args.push_back(options_.waitReplicas > 0 ? "" : publishVerb());
    args.push_back(std::to_string(options_.channelTtlMs));
    args.push_back(key(channel, 'p'));
    if (!idempotencyKey.empty() && options_.idempotencyWindowMs > 0) {
        keys.push_back(key(channel, 'k') + ":" + idempotencyKey);  // the channel's hash tag: one slot
        args.push_back(std::to_string(options_.idempotencyWindowMs));
    }
    runScript(
        "publish", std::move(keys), std::move(args), [this, channel, data, timeMs, done](const RedisValue* reply) {
            // {epoch, seq}; {epoch, seq, payload} under --broker-wait; {epoch, seq, time, key}
            // for a repeated idempotency key. Anything else is not the script's answer.
            const auto shaped = [reply](std::size_t count) {
                return reply && reply->type == RedisValue::Type::Array && reply->elements.size() == count &&
                       reply->elements[0].isString() && !reply->elements[0].text.empty() &&
                       reply->elements[1].type == RedisValue::Type::Integer && reply->elements[1].integer > 0;
            };
            if (!shaped(2) && !(shaped(3) && options_.waitReplicas > 0 && reply->elements[2].isString()) &&
                !(shaped(4) && reply->elements[2].type == RedisValue::Type::Integer)) {
                // Sent: without an answer (a timeout, the connection lost), with an error from
                // inside the script or with an answer that is not the script's, it may have been stored.
                if (reply && reply->isError() && refusedBeforeRunning(reply->text)) {
                    done(unavailable(reply->text));
                } else {
                    const std::string what = !reply ? std::string("no answer in time, or the connection was lost")
                                             : reply->isError()
                                                 ? reply->text
                                                 : std::string("an answer that is not the publish script's");
                    done(Error{ErrorCode::PublishOutcomeUnknown,
                               "the broker did not confirm the publish (" + what +
                                   "): it may or may not be stored; retry with the same idempotency_key to be sure it "
                                   "is stored once"});
                }
                return;
            }
            if (reply->elements.size() == 3) {
                awaitReplicas(channel, reply->elements[0].text,
                              static_cast<std::uint64_t>(std::max(0LL, reply->elements[1].integer)), timeMs,
                              reply->elements[2].text, done);
                return;
            }
            if (reply->elements.size() == 4) {
                // The key was there: the message stored with it, nothing new.
                auto repeat = std::make_shared<Message>();
                repeat->channel = channel;
                repeat->epoch = reply->elements[0].text;
                repeat->seq = static_cast<std::uint64_t>(std::max(0LL, reply->elements[1].integer));
                repeat->timeMs = reply->elements[2].integer;
                repeat->repeated = true;
                done(MessagePtr(std::move(repeat)));
                return;
            }
            auto message = std::make_shared<Message>();
            message->channel = channel;
            message->epoch = reply->elements[0].text;
            message->seq = static_cast<std::uint64_t>(std::max(0LL, reply->elements[1].integer));
            message->timeMs = timeMs;
            message->envelope =
                protocol::encodeEnvelope(protocol::Envelope{channel, message->seq, std::move(*data), timeMs});
            done(MessagePtr(std::move(message)));
        });
}

// --broker-wait N: the script stored the message without announcing it. WAIT asks Redis to
// hold this connection's writes until N replicas have them; only then is the message
// announced on pub/sub and the publish answered. Not confirmed in time (or no answer): the
// message is on the master but a failover may lose it, so the publisher hears
// publish_outcome_unknown; it is announced all the same (the stream holds it: subscribers
// would read it from there anyway).
void RedisBroker::awaitReplicas(const std::string& channel, std::string epoch, std::uint64_t seq, std::int64_t timeMs,
                                std::string envelope, PublishDone done) {
    auto message = std::make_shared<Message>();
    message->channel = channel;
    message->epoch = std::move(epoch);
    message->seq = seq;
    message->timeMs = timeMs;
    message->envelope = std::move(envelope);
    const std::string want = std::to_string(options_.waitReplicas);
    auto alive = alive_;
    command({"WAIT", want, std::to_string(options_.waitTimeoutMs)}, [this, alive, message,
                                                                     done](const RedisValue* reply) {
        if (!*alive) return;
        const long long held = reply && reply->type == RedisValue::Type::Integer ? reply->integer : -1;
        const std::string payload = message->epoch + " " + std::to_string(message->seq) + " " +
                                    std::to_string(message->timeMs) + "\n" + message->envelope;
        auto unconfirmed = [this, held, message, done] {
            const std::string why = held < 0 ? std::string("no answer to WAIT")
                                             : std::to_string(held) + " of " + std::to_string(options_.waitReplicas) +
                                                   " replicas held it after " + std::to_string(options_.waitTimeoutMs) +
                                                   " ms";
            done(Error{ErrorCode::PublishOutcomeUnknown,
                       "the message is stored on the Redis master (seq " + std::to_string(message->seq) +
                           ") but was not confirmed on --broker-wait replicas (" + why +
                           "): a failover may lose it; retry with the same idempotency_key to be sure it is stored"});
        };
        if (held < options_.waitReplicas) {
            command({publishVerb(), key(message->channel, 'p'), payload}, [](const RedisValue*) {});
            unconfirmed();
            return;
        }
        // Acknowledged once announced: a subscriber node then has it before the publisher hears "stored".
        command({publishVerb(), key(message->channel, 'p'), payload}, [message, done](const RedisValue* announced) {
            if (!announced || announced->isError()) {
                done(Error{ErrorCode::PublishOutcomeUnknown,
                           "the message is stored on Redis and its replicas (seq " + std::to_string(message->seq) +
                               ") but its announcement got no answer: subscribers read it from the stream, unless "
                               "a failover starts a new epoch first"});
                return;
            }
            done(MessagePtr(message));
        });
    });
}

void RedisBroker::channels(const ChannelListQuery& query, ChannelListDone done) {
    if (!commandsReady_) {
        done(unavailable(noAnswer(nullptr, state_)));
        return;
    }
    // Every channel has its P:{c}:m hash; the pattern's `*` is Redis's, the rest literal
    // (channel names hold no glob characters; the prefix's are escaped).
    std::string match;
    for (char c : options_.prefix) {
        if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') match += '\\';
        match += c;
    }
    match += ":{" + query.pattern + "}:m";
    const std::string cursor = query.cursor.empty() ? "0" : query.cursor;
    // SCAN's cursor is an unsigned 64-bit number: anything else is the caller's mistake,
    // not Redis's failure.
    std::uint64_t number = 0;
    const auto [end, problem] = std::from_chars(cursor.data(), cursor.data() + cursor.size(), number);
    if (problem != std::errc() || end != cursor.data() + cursor.size()) {
        done(Error{ErrorCode::BadCursor, "not a cursor of this broker's channel list: " + query.cursor});
        return;
    }
    auto alive = alive_;
    commands_->command(
        {"SCAN", cursor, "MATCH", match, "COUNT", std::to_string(query.limit)},
        [this, alive, done, cursor](const RedisValue* reply) {
            if (!*alive) return;
            if (reply && reply->isError() && reply->text.find("invalid cursor") != std::string::npos) {
                done(Error{ErrorCode::BadCursor, "not a cursor of this broker's channel list: " + cursor});
                return;
            }
            noteReply(CommandHealth::Kind::Read, reply);
            if (!reply || reply->type != RedisValue::Type::Array || reply->elements.size() != 2) {
                ++stats_.errors;
                done(unavailable(noAnswer(reply, state_)));
                return;
            }
            ChannelList page;
            page.next = reply->elements[0].text == "0" ? "" : reply->elements[0].text;
            const std::size_t open = options_.prefix.size() + 2;  // "P:{"
            for (const RedisValue& key : reply->elements[1].elements) {
                if (key.text.size() < open + 3) continue;
                page.channels.push_back(key.text.substr(open, key.text.size() - open - 3));
            }
            std::sort(page.channels.begin(), page.channels.end());
            done(std::move(page));
        });
}

void RedisBroker::history(const HistoryQuery& query, HistoryDone done) {
    readStream(query.channel, query.after, query.limit, std::min(query.maxBytes, kMaxReadBytes),
               [epoch = query.epoch, done](protocol::Result<HistoryPage> result) {
                   if (result && !epoch.empty() && epoch != result->head.epoch) {
                       result->epochChanged = true;
                       result->messages.clear();
                       result->gap.reset();
                       result->more = false;
                   }
                   done(std::move(result));
               });
}

}  // namespace pushwire::server
