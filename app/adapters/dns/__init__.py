"""DNS adapters for the Resolver port."""

from app.adapters.dns.system_resolver import SystemResolver

__all__ = ["SystemResolver"]
