"""Adapters for WhatsApp session services other than seed 003's Node.js one.

Chosen by the ``whatsapp_service`` connection's extra ``{"flavor": ...}`` (see
:func:`get_adapter`); all share the HTTP, key and error handling of
:class:`include.health.whatsapp.client.HttpSessionService` and map the service's states onto the reconcile's
(``connected``, ``initializing``, ``qr_required``, ``disconnected``, ``failed``). A state an adapter
does not know is passed on lower-cased; the reconcile leaves such sessions alone.

| flavor | service | API spoken | key | sessions read |
| --- | --- | --- | --- | --- |
| ``seed`` | the Node.js service of seed 003 | the design document | query ``api_key`` | one list call |
| ``waha`` | WAHA (devlikeapro/waha) | ``/api/sessions`` API of WAHA 2024.x-2025.x | header ``X-Api-Key`` | one list call |
| ``wwebjs_api`` | wwebjs-api (avoylenko/wwebjs-api) | ``/session/*`` API of 1.x | header ``x-api-key`` | one call per session |
| ``evolution`` | Evolution API (EvolutionAPI/evolution-api) | ``/instance/*`` API of v2 (2.1-2.3) | header ``apikey`` | one call per session |

Each module's docstring names the calls, the state mapping, the states it restarts (with the
service's own restart call), re-creates or leaves for a person, and the sources read. Per-session
flavors read extra ``concurrency`` (default 8) and ``budget_seconds`` (default 60).
"""

from __future__ import annotations

from include.health.whatsapp.adapters.evolution import EvolutionService
from include.health.whatsapp.adapters.seed import WhatsAppService
from include.health.whatsapp.adapters.waha import WahaService
from include.health.whatsapp.adapters.wwebjs_api import WwebjsApiService
from include.health.whatsapp.client import DEFAULT_CONN_ID, DEFAULT_FLAVOR, HttpSessionService, WhatsAppAdapter

FLAVORS: dict[str, type[HttpSessionService]] = {
    "seed": WhatsAppService,
    "waha": WahaService,
    "wwebjs_api": WwebjsApiService,
    "evolution": EvolutionService,
}


def get_adapter(conn_id: str = DEFAULT_CONN_ID, *, timeout: float | None = None) -> WhatsAppAdapter:
    """The adapter named by the connection's extra ``flavor`` (``seed``, ``waha``, ``wwebjs_api`` or
    ``evolution``; default ``seed``). The older extra ``adapter`` (``nodejs`` = ``seed``) is read
    when ``flavor`` is absent."""
    from airflow.sdk import BaseHook

    extra = BaseHook.get_connection(conn_id).extra_dejson or {}
    if extra.get("flavor") not in (None, ""):
        key, name = "flavor", str(extra["flavor"]).strip().lower()
    elif extra.get("adapter") not in (None, ""):
        key, name = "adapter", str(extra["adapter"]).strip().lower()
        name = {"nodejs": "seed"}.get(name, name)
    else:
        key, name = "flavor", DEFAULT_FLAVOR
    if name not in FLAVORS:
        raise ValueError(f"connection {conn_id!r} names WhatsApp service flavor {name!r} (extra {key!r}); "
                         f"allowed: {', '.join(FLAVORS)}")
    return FLAVORS[name](conn_id, timeout=timeout)


__all__ = ["FLAVORS", "EvolutionService", "WahaService", "WhatsAppService", "WwebjsApiService", "get_adapter"]
