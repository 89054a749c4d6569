"""RedisRateBudget: the RateBudget port shared by every node of a cluster (issue 12, ADR 0145).

One weight window per exchange and API family for the whole cluster, kept in Redis and
changed only by Lua scripts (check room and take weight in one atomic step), so N nodes
together stay inside one exchange budget. The published limit (binance exchangeInfo), the
exchange's own used-weight count (``X-MBX-USED-WEIGHT-1M``) and a 429/418 stop are shared
the same way: a stop one node learns refuses every node's next request until Retry-After.

Times are the node's clock (``Clock.time()``, seconds), passed into the scripts, not Redis
``TIME``: windows align to UTC minutes as binance's do, nodes keep their clocks in sync (NTP),
and tests run on a manual clock.

Redis away: the node keeps serving on an in-process limiter (``InMemoryRateBudget``) whose
ceiling is its share of the limit (the limit / the nodes seen sharing it in the last two
minutes), the used-weight header still raising its count; it tries Redis again at most once
a second and returns to the shared count when Redis answers.

Keys (``{exchange}`` is a Redis Cluster hash tag: one exchange's keys share a slot)::

    pm:budget:{binance}:stop                 "until" (s, node clock) of a 429/418 stop
    pm:budget:{binance}:stats                stoppedSecondsTotal, status:<code> counts
    pm:budget:{binance}:nodes                sorted set: node id -> last request time
    pm:budget:{binance}:api:w:<start>        used, observed (one window; expires after 2)
    pm:budget:{binance}:api:totals           requests, waited, refused (since start)
    pm:budget:{binance}:api:limit            the published limit (weight per minute)
"""

from __future__ import annotations

import math
import uuid
from typing import TYPE_CHECKING, Any

import structlog
from redis.exceptions import RedisError

from app.adapters.budget.background import Background
from app.adapters.budget.limiter import InMemoryRateBudget, RulesFactory, snapshot_of
from app.domain.budget.model import BudgetExhausted
from app.domain.budget.rules import WINDOW_SECONDS, ExchangeRules, ccxt_model_rules
from app.domain.budget.window import ExchangeBudgetState, FamilyWindow
from app.ports.clock import Clock
from app.settings import BudgetSettings

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = structlog.get_logger(__name__)

PREFIX = "pm:budget"
NODE_SEEN_S = 120.0
"""A node that took weight within this many seconds counts as sharing the budget."""
REDIS_RETRY_S = 1.0
"""While Redis is away, it is tried again at most this often (node clock, seconds)."""
SNAPSHOT_REREAD_S = 5.0
"""``snapshot`` (Prometheus scrapes) re-reads the shared figures at most this often."""
REDIS_FAILURES = (RedisError, OSError, TimeoutError)
"""What a lost or unreachable Redis raises through redis-py (connection, timeout, loading)."""

ACQUIRE = """
local now = tonumber(ARGV[1])
local weight = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local reserve = tonumber(ARGV[4])
local window_s = tonumber(ARGV[6])
local remaining = tonumber(ARGV[7])
local start = tonumber(ARGV[10])
redis.call('ZADD', KEYS[5], now, ARGV[9])
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - tonumber(ARGV[11]))
local nodes = redis.call('ZCARD', KEYS[5])
if ARGV[5] == '0' then
  local published = redis.call('GET', KEYS[4])
  if published then limit = tonumber(published) end
end
local used = tonumber(redis.call('HGET', KEYS[2], 'used') or '0')
local stop = tonumber(redis.call('GET', KEYS[1]) or '0')
if stop > now then
  redis.call('HINCRBY', KEYS[3], 'refused', 1)
  return {0, tostring(stop - now), 1, tostring(used), tostring(limit), nodes}
end
if used + weight <= limit * (1 - reserve) or used == 0 then
  used = tonumber(redis.call('HINCRBYFLOAT', KEYS[2], 'used', weight))
  redis.call('PEXPIRE', KEYS[2], math.floor(window_s * 2000))
  redis.call('HINCRBY', KEYS[3], 'requests', 1)
  if ARGV[8] == '1' then redis.call('HINCRBY', KEYS[3], 'waited', 1) end
  return {1, '0', 0, tostring(used), tostring(limit), nodes}
end
local wait = start + window_s - now
if wait > remaining then redis.call('HINCRBY', KEYS[3], 'refused', 1) end
return {0, tostring(wait), 0, tostring(used), tostring(limit), nodes}
"""
"""KEYS: stop, window, totals, limit, nodes. ARGV: now, weight, rule limit, reserve,
overridden (0/1), window s, queue wait left s, waited (0/1), node id, window start, node
seen s. Returns {grant, wait s, stopped, used, limit, nodes}; refused counted when the
wait is longer than the queue wait left (the caller refuses then)."""

OBSERVE = """
local seen = tonumber(ARGV[1])
local used = tonumber(redis.call('HGET', KEYS[1], 'used') or '0')
if seen > used then redis.call('HSET', KEYS[1], 'used', ARGV[1]) end
redis.call('HSET', KEYS[1], 'observed', ARGV[1])
redis.call('PEXPIRE', KEYS[1], math.floor(tonumber(ARGV[2]) * 2000))
return 1
"""
"""KEYS: window. ARGV: the exchange's count, window s. Ours becomes the larger of both."""

STOP = """
local now = tonumber(ARGV[1])
local retry = math.max(0, tonumber(ARGV[2]))
local untl = now + retry
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if untl > cur then
  redis.call('HINCRBYFLOAT', KEYS[2], 'stoppedSecondsTotal', untl - math.max(now, cur))
  redis.call('SET', KEYS[1], tostring(untl), 'PX', math.floor(retry * 1000) + 60000)
end
if ARGV[3] ~= '' then redis.call('HINCRBY', KEYS[2], 'status:' .. ARGV[3], 1) end
return 1
"""
"""KEYS: stop, stats. ARGV: now, Retry-After s, status. A longer running stop stays; time
stopped counts once when stops overlap (as ``ExchangeBudgetState.stop``). An empty status
(a stop replayed after a Redis outage) counts no new answer."""


def _window_start(now: float, window_s: float = WINDOW_SECONDS) -> int:
    return int(math.floor(now / window_s) * window_s)


class RedisRateBudget:
    """The RateBudget port on Redis; every node's instances of an exchange share one window.

    Args:
        redis: the process's client (``app.adapters.redis.connect``).
        clock: wall clock; its time goes into the scripts (windows are UTC minutes).
        max_queue_wait_s: the longest a request waits for room; beyond it, BudgetExhausted.
        reserve_fraction: share of each limit never used (0.05: stop at 95 %).
        rules_factory: rules of an exchange nobody configured (ccxt's model by default).
        node_id: this node's name in the ``nodes`` set (random by default; no secret).
    """

    def __init__(
        self,
        redis: Redis,
        clock: Clock,
        *,
        max_queue_wait_s: float = 2.0,
        reserve_fraction: float = 0.05,
        rules_factory: RulesFactory | None = None,
        node_id: str | None = None,
    ) -> None:
        self._redis = redis
        self._clock = clock
        self._max_queue_wait_s = max(0.0, max_queue_wait_s)
        self._reserve = min(max(reserve_fraction, 0.0), 0.9)
        self._rules_factory = rules_factory or (
            lambda exchange_id: ccxt_model_rules(exchange_id, 50)
        )
        self._node_id = node_id or uuid.uuid4().hex[:12]
        # The node's copy of the shared figures (what `snapshot` shows), also where a stop
        # learnt here refuses at once, before any Redis round trip.
        self._mirror = InMemoryRateBudget(
            clock,
            max_queue_wait_s=max_queue_wait_s,
            reserve_fraction=reserve_fraction,
            rules_factory=self._rules_factory,
        )
        self._nodes: dict[str, int] = {}
        self._local: InMemoryRateBudget | None = None  # set while Redis is away
        self._retry_at = 0.0
        self._writes = Background("rate_budget")
        self._rereads = Background("rate_budget_reread")
        self._read_at = float("-inf")
        self._acquire = redis.register_script(ACQUIRE)
        self._observe = redis.register_script(OBSERVE)
        self._stop = redis.register_script(STOP)

    @classmethod
    def from_settings(cls, redis: Redis, clock: Clock, settings: BudgetSettings) -> RedisRateBudget:
        """Built from ``[budget]``: ``max_queue_wait_ms``, ``reserve_fraction``."""
        return cls(
            redis,
            clock,
            max_queue_wait_s=settings.max_queue_wait_ms / 1000.0,
            reserve_fraction=settings.reserve_fraction,
        )

    # -- keys ------------------------------------------------------------------------------

    @staticmethod
    def _key(exchange_id: str, *parts: str) -> str:
        return ":".join((PREFIX, "{" + exchange_id + "}", *parts))

    def _window_key(self, exchange_id: str, family: str, now: float) -> str:
        return self._key(exchange_id, family, "w", str(_window_start(now)))

    # -- the port ----------------------------------------------------------------------------

    def configure(self, rules: ExchangeRules) -> None:
        self._mirror.configure(rules)
        if self._local is not None:
            self._local.configure(rules)

    @property
    def shared(self) -> bool:
        """True while the count is the cluster's (Redis answers); False on the local fallback."""
        return self._local is None

    async def acquire(self, exchange_id: str, family: str, weight: float) -> None:
        state = self._mirror.state(exchange_id)
        now = self._clock.time()
        if now < state.stopped_until:
            # Learnt here (or from Redis) a moment ago: no round trip needed to refuse.
            state.family(family).refused += 1
            self._writes.spawn(self._count(exchange_id, family, "refused"))
            raise _stopped(exchange_id, state.stopped_until - now)
        if self._local is not None:
            if now < self._retry_at:
                return await self._local.acquire(exchange_id, family, weight)
            self._retry_at = now + REDIS_RETRY_S
        try:
            await self._acquire_shared(state, exchange_id, family, weight)
        except REDIS_FAILURES as error:
            self._go_local(error)
            assert self._local is not None
            await self._local.acquire(exchange_id, family, weight)
        else:
            self._back_to_shared()

    async def _acquire_shared(
        self, state: ExchangeBudgetState, exchange_id: str, family: str, weight: float
    ) -> None:
        window = state.family(family)
        overridden = "1" if family in state.rules.overridden else "0"
        deadline = self._clock.time() + self._max_queue_wait_s
        waited = False
        while True:
            now = self._clock.time()
            start = _window_start(now, window.window_s)
            keys = [
                self._key(exchange_id, "stop"),
                self._key(exchange_id, family, "w", str(start)),
                self._key(exchange_id, family, "totals"),
                self._key(exchange_id, family, "limit"),
                self._key(exchange_id, "nodes"),
            ]
            args = [
                repr(now),
                repr(float(weight)),
                repr(window.rule.weight_per_minute),
                repr(self._reserve),
                overridden,
                repr(window.window_s),
                repr(max(0.0, deadline - now)),
                "1" if waited else "0",
                self._node_id,
                str(start),
                repr(NODE_SEEN_S),
            ]
            reply = await self._acquire(keys=keys, args=args)
            grant, wait_s, stopped = int(reply[0]), float(reply[1]), int(reply[2])
            self._learn(state, window, now, float(reply[3]), float(reply[4]), int(reply[5]))
            if grant:
                window.requests += 1
                window.waited += 1 if waited else 0
                return
            if stopped:
                state.stopped_until = max(state.stopped_until, now + wait_s)
                window.refused += 1
                raise _stopped(exchange_id, wait_s)
            if now + wait_s > deadline:
                window.refused += 1
                raise BudgetExhausted(
                    f"{exchange_id} {family} request weight budget is used up "
                    f"({window.used:.0f} of {window.rule.weight_per_minute:.0f} per minute)",
                    retry_after_s=wait_s,
                )
            waited = True
            await self._clock.sleep(wait_s + 0.001)

    def _learn(
        self,
        state: ExchangeBudgetState,
        window: FamilyWindow,
        now: float,
        used: float,
        limit: float,
        nodes: int,
    ) -> None:
        window.roll(now)
        window.used = used
        if limit != window.rule.weight_per_minute:
            state.set_limit(window.rule.name, limit, "exchangeInfo")
        self._nodes[state.rules.exchange_id] = max(1, nodes)

    def set_published_limit(self, exchange_id: str, family: str, weight_per_minute: float) -> None:
        self._mirror.set_published_limit(exchange_id, family, weight_per_minute)
        if self._local is not None:
            self._local.set_published_limit(exchange_id, family, weight_per_minute)
        state = self._mirror.state(exchange_id)
        if weight_per_minute > 0 and family not in state.rules.overridden:
            key = self._key(exchange_id, family, "limit")
            self._writes.spawn(self._redis.set(key, repr(float(weight_per_minute))))

    def observe_used(self, exchange_id: str, family: str, used: float) -> None:
        self._mirror.observe_used(exchange_id, family, used)
        if self._local is not None:
            self._local.observe_used(exchange_id, family, used)
        now = self._clock.time()
        keys = [self._window_key(exchange_id, family, now)]
        self._writes.spawn(self._observe(keys=keys, args=[repr(float(used)), repr(WINDOW_SECONDS)]))

    def stop(self, exchange_id: str, status: int, retry_after_s: float) -> None:
        self._mirror.stop(exchange_id, status, retry_after_s)
        if self._local is not None:
            self._local.stop(exchange_id, status, retry_after_s)
        keys = [self._key(exchange_id, "stop"), self._key(exchange_id, "stats")]
        args = [repr(self._clock.time()), repr(float(retry_after_s)), str(int(status))]
        self._writes.spawn(self._stop(keys=keys, args=args))

    async def _count(self, exchange_id: str, family: str, field: str) -> None:
        await self._redis.hincrby(self._key(exchange_id, family, "totals"), field, 1)

    async def refresh(self) -> None:
        await self._writes.drain()
        await self._reread()

    async def _reread(self) -> None:
        self._read_at = self._clock.time()
        if self._local is not None and self._clock.time() < self._retry_at:
            return
        try:
            await self._read_shared()
        except REDIS_FAILURES as error:
            self._go_local(error)
        else:
            self._back_to_shared()

    async def _read_shared(self) -> None:
        now = self._clock.time()
        for exchange_id, state in self._mirror.states().items():
            families = list(state.families.values())
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.get(self._key(exchange_id, "stop"))
                pipe.hgetall(self._key(exchange_id, "stats"))
                pipe.zcount(self._key(exchange_id, "nodes"), now - NODE_SEEN_S, "+inf")
                for window in families:
                    name = window.rule.name
                    pipe.hgetall(self._window_key(exchange_id, name, now))
                    pipe.hgetall(self._key(exchange_id, name, "totals"))
                    pipe.get(self._key(exchange_id, name, "limit"))
                replies = await pipe.execute()
            stop, stats, nodes = replies[0], replies[1], replies[2]
            state.stopped_until = max(state.stopped_until, float(stop) if stop else 0.0)
            state.stopped_s_total = float(stats.get(b"stoppedSecondsTotal", 0.0))
            state.stops = {
                int(k[len(b"status:") :]): int(v)
                for k, v in stats.items()
                if k.startswith(b"status:")
            }
            self._nodes[exchange_id] = max(1, int(nodes))
            for i, window in enumerate(families):
                current, totals, limit = replies[3 + 3 * i : 6 + 3 * i]
                window.roll(now)
                window.used = float(current.get(b"used", 0.0))
                observed = current.get(b"observed")
                window.observed_used = float(observed) if observed is not None else None
                window.requests = int(totals.get(b"requests", 0))
                window.waited = int(totals.get(b"waited", 0))
                window.refused = int(totals.get(b"refused", 0))
                if limit:
                    state.set_limit(window.rule.name, float(limit), "exchangeInfo")

    def snapshot(self) -> dict[str, dict[str, Any]]:
        now = self._clock.time()
        if now - self._read_at >= SNAPSHOT_REREAD_S and not self._rereads.pending():
            # Scrapes call this synchronously: they get the copy as it is, and start a
            # re-read so that the next scrape shows the other nodes' counts too.
            self._read_at = now
            self._rereads.spawn(self._reread())
        if self._local is not None:
            out = self._local.snapshot()
        else:
            out = snapshot_of(self._mirror.states(), now)
        for exchange_id, figures in out.items():
            figures["shared"] = self._local is None
            figures["nodesSharing"] = self._nodes.get(exchange_id, 1)
        return out

    # -- Redis away ----------------------------------------------------------------------------

    def _go_local(self, error: BaseException) -> None:
        """Serve on an in-process limiter with this node's share of each limit."""
        self._retry_at = self._clock.time() + REDIS_RETRY_S
        if self._local is not None:
            return
        nodes = max(self._nodes.values(), default=1)
        # Ceiling = limit x (1 - reserve) / nodes, as a reserve of the in-process limiter.
        reserve = 1.0 - (1.0 - self._reserve) / max(1, nodes)
        local = InMemoryRateBudget(
            self._clock,
            max_queue_wait_s=self._max_queue_wait_s,
            reserve_fraction=reserve,
            rules_factory=self._rules_factory,
        )
        for exchange_id, state in self._mirror.states().items():
            local.configure(state.rules)
            copy = local.state(exchange_id)
            copy.stopped_until = state.stopped_until
            for name, window in state.families.items():
                # The cluster's count so far this window stays counted: conservative.
                mine = copy.family(name)
                mine.rule = window.rule
                mine.limit_source = window.limit_source
                mine.window_start = window.window_start
                mine.used = window.used
        self._local = local
        log.warning(
            "rate_budget_redis_away",
            error=type(error).__name__,
            nodes_sharing=nodes,
            share=round(1.0 / max(1, nodes), 3),
        )

    def _back_to_shared(self) -> None:
        if self._local is None:
            return
        for exchange_id, state in self._local.states().items():
            if state.stopped_until > self._clock.time():
                # A stop learnt while Redis was away is told to the others now.
                retry = state.stopped_until - self._clock.time()
                keys = [self._key(exchange_id, "stop"), self._key(exchange_id, "stats")]
                args = [repr(self._clock.time()), repr(retry), ""]
                self._writes.spawn(self._stop(keys=keys, args=args))
        self._local = None
        log.info("rate_budget_redis_back")


def _stopped(exchange_id: str, wait_s: float) -> BudgetExhausted:
    return BudgetExhausted(
        f"{exchange_id} answered 429/418: every request to it is held back "
        f"until its Retry-After has passed",
        retry_after_s=wait_s,
    )
