#include "broker/redis_presence.hpp"

namespace pushwire::server {

using protocol::Error;
using protocol::ErrorCode;

namespace {

// Shared by the scripts that change members: append(...) writes an entry into a channel's
// stream exactly as the publish script writes a message (epoch made when absent, next seq,
// trimmed, announced on pub/sub, expiry renewed); leaveUser(...) counts a member's user
// out of P:{c}:pu.
const char* kPrelude = R"lua(
local function append(meta, stream, topic, channelJson, body, time, newEpoch, history, verb, ttl)
  local epoch = redis.call('HGET', meta, 'e')
  if not epoch then
    epoch = newEpoch
    redis.call('DEL', stream)
    redis.call('HSET', meta, 'e', epoch, 's', 0)
  end
  local seq = redis.call('HINCRBY', meta, 's', 1)
  if seq > 1 and redis.call('EXISTS', stream) == 0 then
    epoch = newEpoch
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

// KEYS: meta, stream, topic, pm, pu, node channels, nodes.
// ARGV: channel JSON, client, user, member JSON, node, announce, time, new epoch, history,
//       publish verb, channel ttl, channel name.
const char* kJoinScript = R"lua(
if redis.call('HEXISTS', KEYS[4], ARGV[2]) == 1 then return {0} end
redis.call('HSET', KEYS[4], ARGV[2], ARGV[5] .. ' ' .. ARGV[4])
if ARGV[3] ~= '' then redis.call('HINCRBY', KEYS[5], ARGV[3], 1) end
redis.call('SADD', KEYS[6], ARGV[12])
local t = redis.call('TIME')
redis.call('ZADD', KEYS[7], 'NX', t[1] * 1000 + math.floor(t[2] / 1000), ARGV[5])
if ARGV[6] ~= '1' then return {0} end
local r = append(KEYS[1], KEYS[2], KEYS[3], ARGV[1], '"event":"join","member":' .. ARGV[4], ARGV[7], ARGV[8],
                 ARGV[9], ARGV[10], ARGV[11])
return {1, r[1], r[2]}
)lua";

// KEYS: meta, stream, topic, pm, pu. ARGV: channel JSON, client, announce, time, new
// epoch, history, publish verb, channel ttl.
const char* kLeaveScript = R"lua(
local v = redis.call('HGET', KEYS[4], ARGV[2])
if not v then return {0} end
redis.call('HDEL', KEYS[4], ARGV[2])
local member = string.sub(v, (string.find(v, ' ', 1, true) or 0) + 1)
leaveUser(KEYS[5], member)
if ARGV[3] ~= '1' then return {0} end
local r = append(KEYS[1], KEYS[2], KEYS[3], ARGV[1], '"event":"leave","member":' .. member, ARGV[4], ARGV[5],
                 ARGV[6], ARGV[7], ARGV[8])
return {1, r[1], r[2], member}
)lua";

// Every member of a dead node leaves one channel. KEYS: meta, stream, topic, pm, pu.
// ARGV: channel JSON, dead node, announce, new epoch, history, publish verb, channel ttl.
const char* kReapScript = R"lua(
local t = redis.call('TIME')
local time = string.format('%d', t[1] * 1000 + math.floor(t[2] / 1000))
local all = redis.call('HGETALL', KEYS[4])
local prefix = ARGV[2] .. ' '
local n = 0
for i = 1, #all, 2 do
  local v = all[i + 1]
  if string.sub(v, 1, #prefix) == prefix then
    local member = string.sub(v, #prefix + 1)
    redis.call('HDEL', KEYS[4], all[i])
    leaveUser(KEYS[5], member)
    if ARGV[3] == '1' then
      append(KEYS[1], KEYS[2], KEYS[3], ARGV[1], '"event":"leave","member":' .. member, time, ARGV[4], ARGV[5],
             ARGV[6], ARGV[7])
    end
    n = n + 1
  end
end
return n
)lua";

// The members (at most ARGV[2]), the counts and the stream's position, at once.
// KEYS: meta, stream, pm, pu. ARGV: new epoch, max members, channel ttl.
const char* kSnapshotScript = R"lua(
local meta, stream = KEYS[1], KEYS[2]
local epoch = redis.call('HGET', meta, 'e')
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', stream)
  redis.call('HSET', meta, 'e', epoch, 's', 0)
end
local head = tonumber(redis.call('HGET', meta, 's'))
if head > 0 and redis.call('EXISTS', stream) == 0 then
  epoch = ARGV[1]
  head = 0
  redis.call('HSET', meta, 'e', epoch, 's', 0)
end
if tonumber(ARGV[3]) > 0 then
  redis.call('PEXPIRE', meta, ARGV[3])
  redis.call('PEXPIRE', stream, ARGV[3])
end
local clients = redis.call('HLEN', KEYS[3])
local out = {epoch, head, clients, redis.call('HLEN', KEYS[4])}
local max = tonumber(ARGV[2])
local function add(v)
  if #out - 4 < max then out[#out + 1] = string.sub(v, (string.find(v, ' ', 1, true) or 0) + 1) end
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

// KEYS: pm, pu.
const char* kCountsScript = R"lua(
return {redis.call('HLEN', KEYS[1]), redis.call('HLEN', KEYS[2])}
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

Error unavailable(const RedisValue* reply) {
    return Error{ErrorCode::BrokerUnavailable,
                 "the broker is unavailable: " + (reply ? reply->text : std::string("no answer"))};
}

bool isArray(const RedisValue* reply, std::size_t min) {
    return reply && reply->type == RedisValue::Type::Array && reply->elements.size() >= min;
}

// The stream entry a presence_join / presence_leave answer ({changed, epoch, seq, ...}) stands
// for, without its envelope; null when the member set did not change or nothing was announced.
std::shared_ptr<Message> changeEntry(const RedisValue& reply, const std::string& channel, std::int64_t time,
                                     protocol::EntryEvent event) {
    if (reply.elements[0].integer == 0 || reply.elements.size() < 3) return nullptr;
    auto entry = std::make_shared<Message>();
    entry->channel = channel;
    entry->epoch = reply.elements[1].text;
    entry->seq = static_cast<std::uint64_t>(std::max(0LL, reply.elements[2].integer));
    entry->timeMs = time;
    entry->event = event;
    return entry;
}

}  // namespace

RedisPresence::RedisPresence(asio::io_context& io, RedisBroker& broker, Options options)
    : io_(io), broker_(broker), options_(std::move(options)), timer_(io) {
    broker_.addScript("presence_join", std::string(kPrelude) + kJoinScript);
    broker_.addScript("presence_leave", std::string(kPrelude) + kLeaveScript);
    broker_.addScript("presence_reap", std::string(kPrelude) + kReapScript);
    broker_.addScript("presence_snapshot", kSnapshotScript);
    broker_.addScript("presence_counts", kCountsScript);
    broker_.addScript("presence_heartbeat", kHeartbeatScript);
}

RedisPresence::~RedisPresence() {
    *alive_ = false;
    stop();
}

std::vector<std::string> RedisPresence::channelKeys(const std::string& channel) const {
    return {broker_.channelKey(channel, "m"), broker_.channelKey(channel, "s"), broker_.channelKey(channel, "p"),
            broker_.channelKey(channel, "pm"), broker_.channelKey(channel, "pu")};
}

void RedisPresence::join(const std::string& channel, const Member& member, bool announce, ChangeDone done) {
    std::vector<std::string> keys = channelKeys(channel);
    keys.push_back(broker_.prefixed("node:" + broker_.nodeId() + ":ch"));
    keys.push_back(broker_.prefixed("nodes"));
    const std::string memberJson = protocol::encodeMember(member);
    const std::int64_t time = options_.clock();
    broker_.runScript(
        "presence_join", std::move(keys),
        {"\"" + channel + "\"", member.client, member.user, memberJson, broker_.nodeId(), announce ? "1" : "0",
         std::to_string(time), broker_.newEpoch(), std::to_string(broker_.historySize()), broker_.publishVerb(),
         std::to_string(broker_.channelTtlMs()), channel},
        [channel, memberJson, time, done](const RedisValue* reply) {
            if (!isArray(reply, 1)) {
                done(unavailable(reply));
                return;
            }
            auto entry = changeEntry(*reply, channel, time, protocol::EntryEvent::Join);
            if (entry) {
                entry->envelope = protocol::encodeJoinLeaveEntry(channel, entry->seq, entry->event, memberJson, time);
            }
            done(MessagePtr(std::move(entry)));
        });
}

void RedisPresence::leave(const std::string& channel, const std::string& client, bool announce, ChangeDone done) {
    const std::int64_t time = options_.clock();
    broker_.runScript(
        "presence_leave", channelKeys(channel),
        {"\"" + channel + "\"", client, announce ? "1" : "0", std::to_string(time), broker_.newEpoch(),
         std::to_string(broker_.historySize()), broker_.publishVerb(), std::to_string(broker_.channelTtlMs())},
        [channel, time, done](const RedisValue* reply) {
            if (!isArray(reply, 1)) {
                done(unavailable(reply));
                return;
            }
            auto entry = changeEntry(*reply, channel, time, protocol::EntryEvent::Leave);
            if (entry && reply->elements.size() > 3) {
                entry->envelope =
                    protocol::encodeJoinLeaveEntry(channel, entry->seq, entry->event, reply->elements[3].text, time);
            }
            done(MessagePtr(std::move(entry)));
        });
}

void RedisPresence::snapshot(const std::string& channel, std::size_t maxMembers, SnapshotDone done) {
    broker_.runScript("presence_snapshot",
                      {broker_.channelKey(channel, "m"), broker_.channelKey(channel, "s"),
                       broker_.channelKey(channel, "pm"), broker_.channelKey(channel, "pu")},
                      {broker_.newEpoch(), std::to_string(maxMembers), std::to_string(broker_.channelTtlMs())},
                      [done](const RedisValue* reply) {
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
    broker_.runScript("presence_counts", {broker_.channelKey(channel, "pm"), broker_.channelKey(channel, "pu")}, {},
                      [done](const RedisValue* reply) {
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
    if (broker_.commandsReady()) heartbeat();
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
    broker_.runScript(
        "presence_heartbeat",
        {broker_.prefixed("nodes"), broker_.prefixed("node:" + broker_.nodeId() + ":ch"), broker_.prefixed("reaper")},
        {broker_.nodeId(), keep, std::to_string(options_.ttl.count()), lock}, [this, alive](const RedisValue* reply) {
            if (!*alive) return;
            beating_ = false;
            if (!reply || reply->type != RedisValue::Type::Array || reply->elements.empty()) return;
            // Added anew after the first beat: the others took this node for dead.
            if (reply->elements[0].integer == 1 && refreshes_ > 1 && onReaped_) onReaped_();
            for (std::size_t i = 1; i < reply->elements.size(); ++i) {
                if (reply->elements[i].text != broker_.nodeId()) reapNode(reply->elements[i].text);
            }
        });
}

// Every member the dead node had leaves, channel by channel; then the node is forgotten.
void RedisPresence::reapNode(const std::string& node) {
    auto alive = alive_;
    const std::string channelsKey = broker_.prefixed("node:" + node + ":ch");
    broker_.command({"SMEMBERS", channelsKey}, [this, alive, node, channelsKey](const RedisValue* reply) {
        if (!*alive || !reply || reply->type != RedisValue::Type::Array) return;
        auto remaining = std::make_shared<std::size_t>(reply->elements.size() + 1);
        auto failed = std::make_shared<bool>(false);
        auto finish = [this, alive, node, channelsKey, remaining, failed] {
            if (!*alive || --*remaining > 0 || *failed) return;  // a failure: the next round tries again
            ++nodesReaped_;
            broker_.command({"DEL", channelsKey}, [](const RedisValue*) {});
            broker_.command({"ZREM", broker_.prefixed("nodes"), node}, [](const RedisValue*) {});
        };
        for (const RedisValue& channel : reply->elements) {
            const std::string& name = channel.text;
            broker_.runScript(
                "presence_reap", channelKeys(name),
                {"\"" + name + "\"", node, options_.announces(name) ? "1" : "0", broker_.newEpoch(),
                 std::to_string(broker_.historySize()), broker_.publishVerb(), std::to_string(broker_.channelTtlMs())},
                [this, alive, failed, finish](const RedisValue* result) {
                    if (!*alive) return;
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
