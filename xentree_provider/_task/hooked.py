"""What every Xentree operator and sensor shares: a lazily built hook, and configuration errors that
fail the task at once instead of burning its retries."""

from __future__ import annotations

import functools
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar, cast

from xentree_provider._compat import AirflowFailException
from xentree_provider.api.errors import XentreeConfigError

if TYPE_CHECKING:
    from xentree_provider.hooks.xentree import XentreeHook

__all__ = ["UsesXentreeHook", "XentreeTaskConfigError", "fail_fast_on_bad_config"]

_Method = TypeVar("_Method", bound=Callable[..., Any])


class XentreeTaskConfigError(XentreeConfigError, AirflowFailException):
    """A configuration error inside a task (bad window, template, parameter or connection setting).

    It is still a :class:`~xentree_provider.api.errors.XentreeConfigError`, and an
    ``AirflowFailException``: retrying cannot fix it, so the task fails at once.
    """


def fail_fast_on_bad_config(method: _Method) -> _Method:
    """Decorate ``execute``-like methods: a ``XentreeConfigError`` becomes :class:`XentreeTaskConfigError`."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except XentreeTaskConfigError:
            raise
        except XentreeConfigError as error:
            failure = XentreeTaskConfigError.__new__(XentreeTaskConfigError)
            Exception.__init__(failure, error.message)
            failure.__dict__.update(error.__dict__)
            raise failure from error

    return cast(_Method, wrapper)


class UsesXentreeHook:
    """Mixin: ``self.hook`` is a ``XentreeHook`` on ``self.xentree_conn_id``, built on first use.

    The hook module (and the HTTP stack behind it) is imported then too, never at DAG parse. An
    operator may set ``hook_overrides`` (timeout, max_retries, ...) for the hook's constructor.
    """

    xentree_conn_id: str

    @cached_property
    def hook(self) -> XentreeHook:
        """The Xentree hook (created on first use, never at DAG parse)."""
        from xentree_provider.hooks.xentree import XentreeHook

        return XentreeHook(self.xentree_conn_id, **(getattr(self, "hook_overrides", None) or {}))
