#include "broker/redis_presence.hpp"

#include <map>

namespace pushwire::server {

using protocol::Error;
using protocol::ErrorCode;

namespace {

// Shared by every presence script: a channel's member hash (pm) and user counts (pu) hold
// a placeholder field ('' = '') while the channel's presence lives, so that they exist
// whenever a script names them: during a Redis Cluster slot migration a command naming a
// key that one side lacks is refused (TRYAGAIN) until the migration ends. hold() puts the
// placeholders in; settle() lets both expire with the channel (--channel-ttl) once no
// member is left, and keeps them while one is. Counts leave the placeholder out.
const char* kHold = R"lua(
local function hold(pm, pu)
  redis.call('HSETNX', pm, '', '')
  redis.call('HSETNX', pu, '', '')
end
local function settle(pm, pu, ttl)
  if redis.call('HLEN', pm) > 1 then
    redis.call('PERSIST', pm)
    redis.call('PERSIST', pu)
  elseif tonumber(ttl) > 0 then
    redis.call('PEXPIRE', pm, ttl)
    redis.call('PEXPIRE', pu, ttl)
  end
end
)lua";

// Shared by the scripts that change members: append(...) writes an entry into a channel's
// stream exactly as the publish script writes a message (epoch made when absent or made
// by another Redis process: life() in redis_broker.cpp; next seq,
// trimmed, announced on pub/sub, expiry renewed); leaveUser(...) counts a member's user
// out of P:{c}:pu.
const char* kPrelude = R"lua(
local function append(meta, stream, channelJson, body, time, newEpoch, history, verb, ttl)
  local topic = string.sub(meta, 1, -2) .. 'p'
  local epoch, fresh = life(meta, stream, newEpoch)
  local seq = redis.call('HINCRBY', meta, 's', 1)
  if seq > 1 and redis.call('EXISTS', stream) == 0 then
    epoch = fresh
    seq = 1
    redis.call('HSET', meta, 'e', epoch, 's', 1)
  end
  local s = string.format('%d', seq)
  local entry = '{"channel":' .. channelJson .. ',"seq":' .. s .. ',' .. body .. ',"time":' .. time .. '}'
  redis.call('XADD', stream, 'MAXLEN', history, s .. '-0', 'd', entry)
  redis.call(verb, topic, epoch .. ' ' .. s .. ' ' .. time .. '\n' .. entry)
  if tonumber(ttl) > 0 then
    redis.call('PEXPIRE', meta, ttl)
    redis.call('PEXPIRE', stream, ttl)
  end
  return {epoch, seq}
end
local function leaveUser(users, member)
  local ok, m = pcall(cjson.decode, member)
  if ok and type(m) == 'table' and type(m.user) == 'string' and m.user ~= '' then
    if redis.call('HINCRBY', users, m.user, -1) <= 0 then redis.call('HDEL', users, m.user) end
  end
end
)lua";

// A batch of joins and leaves, in order, each as a lone join or leave would be (a join of
// a member already there, or a leave of one not there, changes and announces nothing: so
// a batch sent again after a lost answer doubles nothing).
// KEYS: per channel of the batch: meta, stream, pm, pu (its pub/sub channel is named from
// meta: it is no key, and naming it would make a migrating slot refuse the script).
// ARGV: node, time, new epoch, history, publish verb, channel ttl, then per change: its
//       channel's first key's index, channel JSON, announce, 'j' or 'l', client, user,
//       member JSON (a leave: two empty ones).
// Answers per change {changed, epoch, seq, member JSON}; epoch '' when nothing was appended.
const char* kChangeScript = R"lua(
local out = {}
for i = 7, #ARGV, 7 do
  local k = tonumber(ARGV[i])
  local pm, pu = KEYS[k + 2], KEYS[k + 3]
  hold(pm, pu)
  local op, client = ARGV[i + 3], ARGV[i + 4]
  local r = {0, '', 0, ''}
  if op == 'j' then
    if redis.call('HEXISTS', pm, client) == 0 then
      local user, member = ARGV[i + 5], ARGV[i + 6]
      redis.call('HSET', pm, client, ARGV[1] .. ' ' .. member)
      if user ~= '' then redis.call('HINCRBY', pu, user, 1) end
      r = {1, '', 0, member}
    end
  else
    local v = redis.call('HGET', pm, client)
    if v then
      redis.call('HDEL', pm, client)
      local member = string.sub(v, (string.find(v, ' ', 1, true) or 0) + 1)
      leaveUser(pu, member)
      r = {1, '', 0, member}
    end
  end
  if r[1] == 1 and ARGV[i + 2] == '1' then
    local a = append(KEYS[k], KEYS[k + 1], ARGV[i + 1],
                     '"event":"' .. (op == 'j' and 'join' or 'leave') .. '","member":' .. r[4], ARGV[2], ARGV[3],
                     ARGV[4], ARGV[5], ARGV[6])
    r[2], r[3] = a[1], a[2]
  end
  settle(pm, pu, ARGV[6])
  out[#out + 1] = r
end
return out
)lua";

// Every member of a dead node leaves one channel. KEYS: meta, stream, pm, pu.
// ARGV: channel JSON, dead node, announce, new epoch, history, publish verb, channel ttl.
const char* kReapScript = R"lua(
local t = redis.call('TIME')
local time = string.format('%d', t[1] * 1000 + math.floor(t[2] / 1000))
hold(KEYS[3], KEYS[4])
local all = redis.call('HGETALL', KEYS[3])
local prefix = ARGV[2] .. ' '
local n = 0
for i = 1, #all, 2 do
  local v = all[i + 1]
  if string.sub(v, 1, #prefix) == prefix then
    local member = string.sub(v, #prefix + 1)
    redis.call('HDEL', KEYS[3], all[i])
    leaveUser(KEYS[4], member)
    if ARGV[3] == '1' then
      append(KEYS[1], KEYS[2], ARGV[1], '"event":"leave","member":' .. member, time, ARGV[4], ARGV[5], ARGV[6],
             ARGV[7])
    end
    n = n + 1
  end
end
settle(KEYS[3], KEYS[4], ARGV[7])
return n
)lua";

// The members (at most ARGV[2]), the counts and the stream's position, at once.
// KEYS: meta, stream, pm, pu. ARGV: new epoch, max members, channel ttl.
const char* kSnapshotScript = R"lua(
local meta, stream = KEYS[1], KEYS[2]
local epoch, fresh = life(meta, stream, ARGV[1])
local head = tonumber(redis.call('HGET', meta, 's'))
if head > 0 and redis.call('EXISTS', stream) == 0 then
  epoch = fresh
  head = 0
  redis.call('HSET', meta, 'e', epoch, 's', 0)
end
if tonumber(ARGV[3]) > 0 then
  redis.call('PEXPIRE', meta, ARGV[3])
  redis.call('PEXPIRE', stream, ARGV[3])
end
hold(KEYS[3], KEYS[4])
settle(KEYS[3], KEYS[4], ARGV[3])
local clients = redis.call('HLEN', KEYS[3]) - 1
local out = {epoch, head, clients, redis.call('HLEN', KEYS[4]) - 1}
local max = tonumber(ARGV[2])
local function add(v)
  if v ~= '' and #out - 4 < max then out[#out + 1] = string.sub(v, (string.find(v, ' ', 1, true) or 0) + 1) end
end
if clients <= max then
  for _, v in ipairs(redis.call('HVALS', KEYS[3])) do add(v) end
else
  local cursor = '0'
  repeat
    local r = redis.call('HSCAN', KEYS[3], cursor, 'COUNT', max)
    cursor = r[1]
    for i = 2, #r[2], 2 do add(r[2][i]) end
  until cursor == '0' or #out - 4 >= max
end
return out
)lua";

// KEYS: pm, pu. ARGV: channel ttl.
const char* kCountsScript = R"lua(
hold(KEYS[1], KEYS[2])
settle(KEYS[1], KEYS[2], ARGV[1])
return {redis.call('HLEN', KEYS[1]) - 1, redis.call('HLEN', KEYS[2]) - 1}
)lua";

// This node is alive, and which nodes are not: one round trip per interval. Answers
// {1 when the node was not in P:nodes (new, or reaped meanwhile) else 0, then the nodes
// silent for longer than the ttl, when this node got the reaper's lock}.
// KEYS: nodes, node channels, lock. ARGV: node, keep ms, ttl ms, lock ms.
const char* kHeartbeatScript = R"lua(
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local out = {redis.call('ZADD', KEYS[1], now, ARGV[1])}
redis.call('PEXPIRE', KEYS[2], ARGV[2])
if redis.call('SET', KEYS[3], ARGV[1], 'NX', 'PX', ARGV[4]) then
  local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%d', now - tonumber(ARGV[3])),
                          'LIMIT', 0, 16)
  for _, node in ipairs(dead) do out[#out + 1] = node end
end
return out
)lua";

// No reply: the commands connection is down or the command timed out; an error reply:
// Redis refused (its text says why). Any other reply is not the script's answer.
Error unavailable(const RedisValue* reply) {
    std::string why = "no answer from Redis";
    if (reply && reply->isError()) {
        why = "Redis answered " + reply->text;
    } else if (reply) {
        why = "unexpected answer from Redis";
    }
    return Error{ErrorCode::BrokerUnavailable, "the broker is unavailable: " + why};
}

bool isArray(const RedisValue* reply, std::size_t min) {
    return reply && reply->type == RedisValue::Type::Array && reply->elements.size() >= min;
}

}  // namespace

RedisPresence::RedisPresence(asio::io_context& io, RedisBroker& broker, Options options)
    : RedisPresence(io,
                    Route{[&broker]() -> RedisBroker& { return broker; },
                          [&broker](const std::string&) -> RedisBroker& { return broker; },
                          [&broker](const std::string& name, std::string lua, CommandHealth::Kind kind) {
                              broker.addScript(name, std::move(lua), kind);
                          },
                          nullptr},
                    std::move(options)) {}

RedisPresence::RedisPresence(asio::io_context& io, Route route, Options options)
    : io_(io), route_(std::move(route)), nodeId_(route_.home().nodeId()), options_(std::move(options)), timer_(io) {
    using Kind = CommandHealth::Kind;
    route_.addScript("presence_change", std::string(kHold) + kPrelude + kChangeScript, Kind::Write);
    route_.addScript("presence_reap", std::string(kHold) + kPrelude + kReapScript, Kind::Write);
    route_.addScript("presence_snapshot", std::string(kHold) + kSnapshotScript, Kind::Read);
    route_.addScript("presence_counts", std::string(kHold) + kCountsScript, Kind::Read);
    route_.addScript("presence_heartbeat", kHeartbeatScript, Kind::Write);
}

void RedisPresence::check(const RedisValue* reply) const {
    if (route_.moved && reply && reply->isError() && reply->text.rfind("MOVED ", 0) == 0) route_.moved();
}

RedisPresence::~RedisPresence() {
    *alive_ = false;
    stop();
}

// The node keys share one hash tag ({presence}), so the heartbeat script's keys sit in one
// Redis Cluster slot; every other script names only one channel's keys ({c}).
std::string RedisPresence::nodeChannelsKey(const std::string& node) const {
    return home().prefixed("{presence}:node:" + node + ":ch");
}

std::vector<std::string> RedisPresence::channelKeys(const std::string& channel) const {
    RedisBroker& broker = of(channel);
    return {broker.channelKey(channel, "m"), broker.channelKey(channel, "s"), broker.channelKey(channel, "pm"),
            broker.channelKey(channel, "pu")};
}

void RedisPresence::join(const std::string& channel, const Member& member, bool announce, ChangeDone done) {
    one(Change{channel, true, announce, member}, std::move(done));
}

void RedisPresence::leave(const std::string& channel, const std::string& client, bool announce, ChangeDone done) {
    Change change{channel, false, announce, Member{}};
    change.member.client = client;
    one(std::move(change), std::move(done));
}

void RedisPresence::one(Change change, ChangeDone done) {
    std::vector<Change> changes;
    changes.push_back(std::move(change));
    apply(std::move(changes), [done = std::move(done)](std::vector<protocol::Result<MessagePtr>> results) {
        done(results.empty() ? protocol::Result<MessagePtr>(MessagePtr()) : std::move(results[0]));
    });
}

// One script for the batch (on the Redis of its channels: of one slot on a cluster). When
// it has joins, the node's channel set learns their channels first (its own command, in
// the node keys' slot, sent ahead: on one Redis on the same connection, so Redis runs them
// in order), so the reaper finds these members if this node dies. Either failing fails
// the batch: the tracker sends it again, which doubles nothing.
void RedisPresence::apply(std::vector<Change> changes, BatchDone done) {
    const std::size_t count = changes.size();
    if (count == 0) {
        done({});
        return;
    }
    ++batches_;
    RedisBroker& broker = of(changes.front().channel);
    RedisBroker& registry = home();
    auto registered = std::make_shared<std::optional<Error>>();
    auto alive = alive_;
    auto noteRegistered = [this, alive, registered](const RedisValue* reply) {
        if (*alive) this->check(reply);
        if (!*registered && (!reply || reply->type != RedisValue::Type::Integer)) *registered = unavailable(reply);
    };
    std::vector<std::string> joined{"SADD", nodeChannelsKey(nodeId_)};
    std::map<std::string, std::size_t> firstKey;  // channel -> index (1-based) of its first key
    std::vector<std::string> keys;
    const std::int64_t time = options_.clock();
    std::vector<std::string> args{nodeId_,
                                  std::to_string(time),
                                  broker.lifeOffer(),
                                  std::to_string(broker.historySize()),
                                  broker.publishVerb(),
                                  std::to_string(broker.channelTtlMs())};
    args.reserve(args.size() + 7 * count);
    std::vector<std::pair<std::string, protocol::EntryEvent>> entries;  // channel, event
    entries.reserve(count);
    for (Change& change : changes) {
        auto [at, added] = firstKey.try_emplace(change.channel, keys.size() + 1);
        if (added) {
            for (std::string& key : channelKeys(change.channel)) keys.push_back(std::move(key));
        }
        if (change.join && (joined.size() == 2 || joined.back() != change.channel)) joined.push_back(change.channel);
        args.push_back(std::to_string(at->second));
        args.push_back("\"" + change.channel + "\"");
        args.push_back(change.announce ? "1" : "0");
        args.push_back(change.join ? "j" : "l");
        args.push_back(change.member.client);
        args.push_back(change.join ? change.member.user : std::string());
        args.push_back(change.join ? protocol::encodeMember(change.member) : std::string());
        entries.emplace_back(change.channel, change.join ? protocol::EntryEvent::Join : protocol::EntryEvent::Leave);
    }
    if (joined.size() > 2) {
        // Until its first heartbeat is answered the node may not be in P:nodes yet: put it
        // there (the heartbeat sets Redis' time soon). Not later: a node the reaper removed
        // must see its next heartbeat add it anew, which is how it learns to join again.
        if (!beaten_) {
            registry.command({"ZADD", registry.prefixed("{presence}:nodes"), "NX", std::to_string(time), nodeId_},
                             noteRegistered);
        }
        registry.command(joined, noteRegistered);
    }
    broker.runScript(
        "presence_change", std::move(keys), std::move(args),
        [this, alive, time, count, registered, entries = std::move(entries),
         done = std::move(done)](const RedisValue* reply) {
            if (*alive) check(reply);
            std::optional<Error> failed;
            if (!isArray(reply, count)) {
                failed = unavailable(reply);
            } else if (*registered) {
                failed = **registered;
            }
            if (failed) {
                done(std::vector<protocol::Result<MessagePtr>>(count, protocol::Result<MessagePtr>(*failed)));
                return;
            }
            std::vector<protocol::Result<MessagePtr>> results;
            results.reserve(count);
            for (std::size_t i = 0; i < count; ++i) {
                const RedisValue& answer = reply->elements[i];
                if (!isArray(&answer, 4) || answer.elements[0].integer == 0 || answer.elements[1].text.empty()) {
                    results.emplace_back(MessagePtr());  // no change, or nothing announced
                    continue;
                }
                auto entry = std::make_shared<Message>();
                entry->channel = entries[i].first;
                entry->epoch = answer.elements[1].text;
                entry->seq = static_cast<std::uint64_t>(std::max(0LL, answer.elements[2].integer));
                entry->timeMs = time;
                entry->event = entries[i].second;
                entry->envelope = protocol::encodeJoinLeaveEntry(entry->channel, entry->seq, entry->event,
                                                                 answer.elements[3].text, time);
                results.emplace_back(MessagePtr(std::move(entry)));
            }
            done(std::move(results));
        });
}

void RedisPresence::snapshot(const std::string& channel, std::size_t maxMembers, SnapshotDone done) {
    RedisBroker& broker = of(channel);
    auto alive = alive_;
    broker.runScript("presence_snapshot",
                     {broker.channelKey(channel, "m"), broker.channelKey(channel, "s"),
                      broker.channelKey(channel, "pm"), broker.channelKey(channel, "pu")},
                     {broker.lifeOffer(), std::to_string(maxMembers), std::to_string(broker.channelTtlMs())},
                     [this, alive, done](const RedisValue* reply) {
                         if (*alive) check(reply);
                         if (!isArray(reply, 4)) {
                             done(unavailable(reply));
                             return;
                         }
                         PresenceSnapshot out;
                         out.position.epoch = reply->elements[0].text;
                         out.position.seq = static_cast<std::uint64_t>(std::max(0LL, reply->elements[1].integer));
                         out.counts.clients = static_cast<std::uint64_t>(std::max(0LL, reply->elements[2].integer));
                         out.counts.users = static_cast<std::uint64_t>(std::max(0LL, reply->elements[3].integer));
                         // Each member as its node stored it: {"client":..,"user":..,"info":..}.
                         for (std::size_t i = 4; i < reply->elements.size(); ++i)
                             out.members.push_back(reply->elements[i].text);
                         out.truncated = out.members.size() < out.counts.clients;
                         done(std::move(out));
                     });
}

void RedisPresence::counts(const std::string& channel, CountsDone done) {
    RedisBroker& broker = of(channel);
    auto alive = alive_;
    broker.runScript("presence_counts", {broker.channelKey(channel, "pm"), broker.channelKey(channel, "pu")},
                     {std::to_string(broker.channelTtlMs())}, [this, alive, done](const RedisValue* reply) {
                         if (*alive) check(reply);
                         if (!isArray(reply, 2)) {
                             done(unavailable(reply));
                             return;
                         }
                         done(PresenceCounts{static_cast<std::uint64_t>(std::max(0LL, reply->elements[0].integer)),
                                             static_cast<std::uint64_t>(std::max(0LL, reply->elements[1].integer))});
                     });
}

void RedisPresence::start() {
    stopped_ = false;
    tick();
}

void RedisPresence::stop() {
    stopped_ = true;
    timer_.cancel();
}

// Every ttl/3: the heartbeat, then the reaper's look for silent nodes.
void RedisPresence::tick() {
    if (stopped_) return;
    if (home().commandsReady()) heartbeat();
    timer_.expires_after(std::max(options_.ttl / 3, std::chrono::milliseconds(100)));
    auto alive = alive_;
    timer_.async_wait([this, alive](const std::error_code& ec) {
        if (!*alive || ec) return;
        tick();
    });
}

void RedisPresence::heartbeat() {
    if (beating_) return;  // the last one is still unanswered: no pile-up on a slow Redis
    beating_ = true;
    ++refreshes_;
    ++refreshRoundTrips_;
    auto alive = alive_;
    // The node's channel set outlives a dead node long enough for the reaper to read it.
    const auto keep = std::to_string((options_.ttl * 10).count());
    const auto lock = std::to_string(std::max<long long>(100, (options_.ttl / 3).count()));
    RedisBroker& registry = home();
    registry.runScript(
        "presence_heartbeat",
        {registry.prefixed("{presence}:nodes"), nodeChannelsKey(nodeId_), registry.prefixed("{presence}:reaper")},
        {nodeId_, keep, std::to_string(options_.ttl.count()), lock}, [this, alive](const RedisValue* reply) {
            if (!*alive) return;
            beating_ = false;
            check(reply);
            if (!reply || reply->type != RedisValue::Type::Array || reply->elements.empty()) return;
            beaten_ = true;
            // Added anew after the first beat: the others took this node for dead.
            if (reply->elements[0].integer == 1 && refreshes_ > 1 && onReaped_) onReaped_();
            for (std::size_t i = 1; i < reply->elements.size(); ++i) {
                if (reply->elements[i].text != nodeId_) reapNode(reply->elements[i].text);
            }
        });
}

// Every member the dead node had leaves, channel by channel; then the node is forgotten.
void RedisPresence::reapNode(const std::string& node) {
    auto alive = alive_;
    const std::string channelsKey = nodeChannelsKey(node);
    home().command({"SMEMBERS", channelsKey}, [this, alive, node, channelsKey](const RedisValue* reply) {
        if (!*alive) return;
        check(reply);
        if (!reply || reply->type != RedisValue::Type::Array) return;
        auto remaining = std::make_shared<std::size_t>(reply->elements.size() + 1);
        auto failed = std::make_shared<bool>(false);
        auto finish = [this, alive, node, channelsKey, remaining, failed] {
            if (!*alive || --*remaining > 0 || *failed) return;  // a failure: the next round tries again
            ++nodesReaped_;
            home().command({"DEL", channelsKey}, [](const RedisValue*) {});
            home().command({"ZREM", home().prefixed("{presence}:nodes"), node}, [](const RedisValue*) {});
        };
        for (const RedisValue& channel : reply->elements) {
            const std::string& name = channel.text;
            RedisBroker& broker = of(name);
            broker.runScript(
                "presence_reap", channelKeys(name),
                {"\"" + name + "\"", node, options_.announces(name) ? "1" : "0", broker.lifeOffer(),
                 std::to_string(broker.historySize()), broker.publishVerb(), std::to_string(broker.channelTtlMs())},
                [this, alive, failed, finish](const RedisValue* result) {
                    if (!*alive) return;
                    check(result);
                    if (result && result->type == RedisValue::Type::Integer) {
                        membersReaped_ += static_cast<std::uint64_t>(std::max(0LL, result->integer));
                    } else {
                        *failed = true;
                    }
                    finish();
                });
        }
        finish();
    });
}

}  // namespace pushwire::server
