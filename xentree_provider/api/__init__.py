"""Pure client logic shared by the sync hook and the async triggers; never imports Airflow.

Routes, errors, settings, token state, retry policy, pagination and typed records live here.
"""

from xentree_provider.api.errors import (
    XentreeAuthError,
    XentreeConfigError,
    XentreeConflictError,
    XentreeConnectionError,
    XentreeError,
    XentreeMaybeAppliedError,
    XentreeNotFoundError,
    XentreePermissionError,
    XentreeQuotaExceededError,
    XentreeRateLimitError,
    XentreeResponseError,
    XentreeServerError,
    XentreeTimeoutError,
    XentreeValidationError,
)

__all__ = [
    "XentreeAuthError",
    "XentreeConfigError",
    "XentreeConflictError",
    "XentreeConnectionError",
    "XentreeError",
    "XentreeMaybeAppliedError",
    "XentreeNotFoundError",
    "XentreePermissionError",
    "XentreeQuotaExceededError",
    "XentreeRateLimitError",
    "XentreeResponseError",
    "XentreeServerError",
    "XentreeTimeoutError",
    "XentreeValidationError",
]
