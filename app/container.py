"""The composition root: the only place that constructs adapters and wires services.

Tests build the same container and override single providers (``registry``, ``clock``...)
with fakes; nothing else in the code base constructs an adapter.
"""

from __future__ import annotations

from dependency_injector import containers, providers

from app.adapters.backends import BackendRegistry
from app.adapters.budget.select import freshness_cache as select_freshness_cache
from app.adapters.budget.select import rate_budget as select_rate_budget
from app.adapters.budget.select import read_flights as select_read_flights
from app.adapters.budget.streams import HubStreamSnapshots
from app.adapters.cache.keys import CacheKeyer
from app.adapters.cache.memory import InMemoryInstanceCache
from app.adapters.ccxt.budget_hook import BudgetedGatewayFactory
from app.adapters.clock import SystemClock
from app.adapters.cluster import stream_ownership
from app.adapters.dns import SystemResolver
from app.adapters.http import HttpxOutboundHttp
from app.adapters.metrics import PrometheusMetrics
from app.adapters.metrics.budget import MetricsBudgetObserver
from app.adapters.metrics.gateway import instrumented_factory
from app.adapters.metrics.proxy import InstrumentedProxyService
from app.adapters.quota import InProcessQuotaStore
from app.adapters.redis import connect as connect_redis
from app.adapters.socketio import SocketIOPublisher
from app.adapters.socketio.cluster_manager import manager_for
from app.domain.access import AccessService, NamedToken, TokenBook
from app.domain.budget.reads import ReadBudget
from app.domain.exchange import ExchangeService
from app.domain.proxy import ProxyPolicy
from app.domain.readiness import Lifecycle, Readiness
from app.domain.streams import StreamHub, StreamService, SubscriptionRegistry
from app.settings import Settings


def token_book(settings: Settings) -> TokenBook:
    """API_TOKEN (or the loopback default) plus every ``[[tokens]]`` entry (ADR 0091)."""
    named = [
        NamedToken(
            name=t.name,
            sha256=bytes.fromhex(t.sha256),
            requests_per_minute=t.requests_per_minute,
            max_subscriptions=t.max_subscriptions,
        )
        for t in settings.tokens
    ]
    return TokenBook.build(settings.effective_token, named)


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)

    registry = providers.Singleton(BackendRegistry.discover, settings)

    # Issue 12: the cluster's Redis client; None in a single process (no redis_url).
    redis = providers.Singleton(connect_redis, settings.provided.cluster)
    # Issue 12 item 5: Socket.IO rooms and emits across nodes; None: the in-process default.
    socketio_manager = providers.Singleton(manager_for, redis)

    clock = providers.Singleton(SystemClock)
    # One registry of metrics per application: tests build many apps in one process.
    metrics = providers.Singleton(PrometheusMetrics)

    # Issue 9: one rate budget per exchange and IP, in front of every ccxt instance;
    # issue 12: shared by the cluster's nodes on Redis when `redis` is set (ADR 0145).
    rate_budget = providers.Singleton(select_rate_budget, redis, clock, settings.provided.budget)
    freshness_cache = providers.Singleton(select_freshness_cache, redis, settings.provided.budget)
    # Issue 12: identical reads on different nodes share one exchange call (ADR 0146).
    read_flights = providers.Singleton(select_read_flights, redis, freshness_cache, clock)
    gateway_factory = providers.Singleton(
        BudgetedGatewayFactory, registry.provided.create, rate_budget, settings
    )

    quota_store = providers.Singleton(InProcessQuotaStore)
    access_service = providers.Singleton(
        AccessService,
        book=providers.Callable(token_book, settings),
        quotas=quota_store,
        metrics=metrics,
    )
    lifecycle = providers.Singleton(Lifecycle)
    readiness = providers.Singleton(Readiness)

    cache_keyer = providers.Singleton(CacheKeyer)
    instance_cache = providers.Singleton(
        InMemoryInstanceCache,
        factory=providers.Callable(instrumented_factory, gateway_factory, metrics),
        settings=settings.provided.cache,
        keyer=cache_keyer,
    )

    outbound_http = providers.Singleton(HttpxOutboundHttp)
    resolver = providers.Singleton(SystemResolver)
    proxy_policy = providers.Singleton(ProxyPolicy.from_settings, settings.provided.proxy)
    proxy_service = providers.Singleton(
        InstrumentedProxyService,
        http=outbound_http,
        resolver=resolver,
        policy=proxy_policy,
        metrics=metrics,
    )

    # Issue 12: which node runs each stream's upstream loop (in-process: this one, always).
    stream_ownership = providers.Singleton(stream_ownership, redis, settings.provided.cluster)
    stream_publisher = providers.Singleton(SocketIOPublisher)
    subscription_registry = providers.Singleton(SubscriptionRegistry)
    stream_hub = providers.Singleton(
        StreamHub,
        cache=instance_cache,
        publisher=stream_publisher,
        settings=settings.provided.streams,
        on_subscribers_ended=subscription_registry.provided.forget_ended,
        metrics=metrics,
        ownership=stream_ownership,
    )
    stream_service = providers.Singleton(
        StreamService,
        hub=stream_hub,
        registry=subscription_registry,
        settings=settings.provided.streams,
    )

    # Issue 9: reads answered from live streams, the freshness cache or a shared call.
    stream_snapshots = providers.Singleton(
        HubStreamSnapshots, stream_service, clock, enabled=settings.provided.budget.stream_reads
    )
    read_budget = providers.Singleton(
        ReadBudget,
        cache=freshness_cache,
        clock=clock,
        max_age_ms=settings.provided.budget.max_age_ms,
        enabled=settings.provided.budget.enabled,
        streams=stream_snapshots,
        observer=providers.Singleton(MetricsBudgetObserver, metrics),
        flights=read_flights,
    )
    exchange_service = providers.Singleton(
        ExchangeService,
        cache=instance_cache,
        is_known_exchange=registry.provided.is_known,
        reads=read_budget,
    )


def build_container(settings: Settings) -> Container:
    return Container(settings=settings)
