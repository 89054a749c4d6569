"""The Lua scripts of stream ownership: each round, publish and leave is one atomic step.

Times come from Redis's own clock (``TIME``), so node clocks never matter. Keys per stream
(``<id>`` = ``app.domain.cluster.model.stream_id``):

- ``pm:lease:<id>``  ``<node>:<fence>`` with a TTL, renewed by the owner;
- ``pm:fence:<id>``  the last fence handed out (INCR; started from Redis's clock in ms when
  missing, so fences keep growing across a Redis restart without persistence);
- ``pm:subs:<id>``   hash node -> ``<expires_ms>:<count>`` (per-node subscriber heartbeats);
- ``pm:latest:<id>`` the owner's last ``data`` report, and ``pm:state:<id>`` its last
  ``error``/``stale`` report while not live again: what a node that starts following needs.

Keys live in the client's database (``SELECT``); channels do not, so their names carry the
database number: ``pm:<db>:stream:<id>`` (the owner's reports) and ``pm:<db>:node:<node>``
(join notices to one node), ADR 0172.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.asyncio import Redis

TICK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local node, holder, count = ARGV[1], ARGV[2], tonumber(ARGV[3])
local lease_ms, presence_ms, release = ARGV[4], tonumber(ARGV[5]), ARGV[6] == '1'
if count > 0 then
  redis.call('HSET', KEYS[3], node, string.format('%d:%d', now + presence_ms, count))
else
  redis.call('HDEL', KEYS[3], node)
end
local elsewhere = 0
local entries = redis.call('HGETALL', KEYS[3])
for i = 1, #entries, 2 do
  local expires, n = string.match(entries[i + 1], '^(%d+):(%d+)$')
  if expires == nil or tonumber(expires) < now then
    redis.call('HDEL', KEYS[3], entries[i])
  elseif entries[i] ~= node then
    elsewhere = elsewhere + tonumber(n)
  end
end
if #entries > 0 then redis.call('PEXPIRE', KEYS[3], presence_ms * 20) end
local current = redis.call('GET', KEYS[1])
if current and current == holder then
  if release and elsewhere == 0 then
    redis.call('DEL', KEYS[1])
    return {'released', '', elsewhere}
  end
  redis.call('PEXPIRE', KEYS[1], lease_ms)
  return {'owner', current, elsewhere}
end
if current then
  return {'follower', current, elsewhere}
end
if release and elsewhere == 0 then
  return {'released', '', elsewhere}
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('SET', KEYS[2], t[1] .. string.sub(string.format('%06d', tonumber(t[2])), 1, 3))
end
local fence = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], 86400000)
current = node .. ':' .. string.format('%d', fence)
redis.call('SET', KEYS[1], current, 'PX', lease_ms)
return {'owner', current, elsewhere}
"""
"""KEYS: lease, fence, subs. ARGV: node, holder ("" for none), local count, lease TTL ms,
heartbeat TTL ms, "1" to release. Returns {role, lease value, subscribers elsewhere}."""

PUBLISH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -1
end
if ARGV[4] == 'data' then
  redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[5])
  redis.call('DEL', KEYS[3])
elseif ARGV[4] == 'state' then
  redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[5])
end
return redis.call('PUBLISH', ARGV[2], ARGV[3])
"""
"""KEYS: lease, latest, state. ARGV: holder, channel, payload, what to keep it as (``data``:
the stream's latest update, which also clears the state; ``state``: the failure it is
recovering from; "": nothing), TTL ms. -1: the holder no longer holds the lease (nothing
sent or kept)."""

LEAVE = """
redis.call('HDEL', KEYS[2], ARGV[1])
if ARGV[2] ~= '' and redis.call('GET', KEYS[1]) == ARGV[2] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""
"""KEYS: lease, subs. ARGV: node, holder ("" for none). 1: the lease was given up."""


def lease_key(stream_id: str) -> str:
    return f"pm:lease:{stream_id}"


def fence_key(stream_id: str) -> str:
    return f"pm:fence:{stream_id}"


def subs_key(stream_id: str) -> str:
    return f"pm:subs:{stream_id}"


def latest_key(stream_id: str) -> str:
    return f"pm:latest:{stream_id}"


def state_key(stream_id: str) -> str:
    return f"pm:state:{stream_id}"


def channel(db: int, stream_id: str) -> str:
    """The stream's channel in the cluster of Redis database ``db``: pub/sub ignores
    databases, so the name carries it (two clusters on two databases of one Redis never
    hear each other, ADR 0172)."""
    return f"pm:{db}:stream:{stream_id}"


def node_channel(db: int, node_id: str) -> str:
    """The channel of one node: other nodes send it the id of a stream they start following
    (``join``, ADR 0171); with the database as ``channel``."""
    return f"pm:{db}:node:{node_id}"


def database_of(redis: Redis) -> int:
    """The Redis database number a client uses (``/<db>`` of its URL; 0 by default)."""
    return int(redis.connection_pool.connection_kwargs.get("db", 0) or 0)
