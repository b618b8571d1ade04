"""Extra links from task instances to pages of the Xentree web app.

The web app lives at the API base URL of the task's connection (``https://my.xentree.com`` by
default). In Airflow 3 the API server resolves extra links from XCom only, so an operator stores the
full URL while it runs with ``SomeLink.persist(context, base_url, ...)``; the link shows once the task
has run. Only the base URL and ids go into the link, never a credential.

Links:

* :class:`XentreeTranscriptLink` — ``{web}/live/transcripts`` (transcript export operator);
* :class:`XentreeOrganizationLink` — ``{web}/organizations/{org_id}/members`` (membership sync);
* :class:`XentreeXelLink` — ``{web}/xel`` or ``{web}/xel/modules/{module_id}`` (XEL progress report).

The sensors carry no extra link.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

__all__ = [
    "XentreeLink",
    "XentreeOrganizationLink",
    "XentreeTranscriptLink",
    "XentreeXelLink",
    "web_url",
]


def web_url(base_url: str, path: str = "", **ids: Any) -> str:
    """``base_url`` + ``path`` with ``{placeholders}`` filled by URL-quoted ``ids``."""
    base = str(base_url).rstrip("/")
    filled = path.format(**{key: quote(str(value), safe="") for key, value in ids.items()})
    return base + filled


class XentreeLink(BaseOperatorLink):
    """Base of the Xentree links: the URL an operator stored in XCom under :attr:`xcom_key`."""

    name: ClassVar[str] = "Xentree"  # type: ignore[misc]
    path: ClassVar[str] = ""

    @classmethod
    def url(cls, base_url: str, **ids: Any) -> str:
        """The page's URL for the web app at ``base_url``."""
        return web_url(base_url, cls.path, **ids)

    @classmethod
    def persist(cls, context: Mapping[str, Any], base_url: str, **ids: Any) -> str:
        """Store the page's URL for this task instance (call from ``execute``); return it."""
        link = cls.url(base_url, **ids)
        ti = context.get("ti") or context.get("task_instance")
        if ti is not None:
            ti.xcom_push(key=cls().xcom_key, value=link)
        return link

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """The stored URL, or an empty string before the task has run."""
        from airflow.sdk.execution_time.xcom import XCom

        value = XCom.get_value(ti_key=ti_key, key=self.xcom_key)
        return str(value) if value else ""


class XentreeTranscriptLink(XentreeLink):
    """The Xentree Live transcripts page: ``{web}/live/transcripts``."""

    name = "Xentree transcripts"
    path = "/live/transcripts"


class XentreeOrganizationLink(XentreeLink):
    """An organization's members page: ``{web}/organizations/{org_id}/members``."""

    name = "Xentree organization members"
    path = "/organizations/{org_id}/members"


class XentreeXelLink(XentreeLink):
    """The Xentree English (XEL) page: ``{web}/xel``, or ``{web}/xel/modules/{module_id}``."""

    name = "Xentree English"
    path = "/xel"

    @classmethod
    def url(cls, base_url: str, **ids: Any) -> str:
        """The XEL page, or one module's page when ``module_id`` is given."""
        module_id = ids.get("module_id")
        if module_id:
            return web_url(base_url, "/xel/modules/{module_id}", module_id=module_id)
        return web_url(base_url, cls.path)
