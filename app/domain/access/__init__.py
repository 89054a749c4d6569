"""Who may call the server: named tokens, their quotas and their revocation."""

from app.domain.access.service import AccessService, QuotaExceeded
from app.domain.access.tokens import API_TOKEN_NAME, NamedToken, TokenBook

__all__ = ["API_TOKEN_NAME", "AccessService", "NamedToken", "QuotaExceeded", "TokenBook"]
