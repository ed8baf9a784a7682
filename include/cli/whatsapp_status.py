"""``whatsapp-status``: every WhatsApp account with its database status, flap-guard counts, last
audit entries, reconnect back-off and uptime over the last 24 hours and 7 days (with the checks
it is based on)."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from include.cli.common import PROG, CliError, describe_error, open_database, use_color


def _workspace(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a workspace id is an integer, not {value!r}") from None


def add_whatsapp_status(sub: Any) -> None:
    p = sub.add_parser(
        "whatsapp-status", help="every WhatsApp account: status, flap guard, audit, reconnect back-off, uptime",
        description="Every account of whatsapp_accounts in the app database with its status, the health job's "
                    "flap-guard counts, the last audit entries (auto_disconnected_at, reason, auto_reconnect_at) "
                    "reconnect attempts with back-off (tuning: --settings, else AIRFLOW_VAR_HEALTH_RECONCILE, "
                    "else the defaults), and the uptime over the last 24 hours and 7 days: the share of the "
                    "health_reconcile checks at which the service said connected, with the checks counted.",
        epilog=f"examples:\n  {PROG} whatsapp-status\n  {PROG} whatsapp-status --workspace 1 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--workspace", type=_workspace, default=None, metavar="N", help="only this workspace")
    p.add_argument("--json", action="store_true", help="print stable, machine-readable JSON")
    p.add_argument("--app-conn", metavar="CONN_ID", default="app_db", help="the app database (default: app_db)")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto", help="colour the status")
    p.add_argument("--settings", metavar="JSON", default=None,
                   help="the health_reconcile tuning (default: AIRFLOW_VAR_HEALTH_RECONCILE, else the defaults)")
    p.set_defaults(func=cmd_whatsapp_status)


def _settings(text: str | None) -> Any:
    """The reconcile's tuning: ``--settings`` JSON, else the Variable ``health_reconcile`` as the
    environment gives it (``AIRFLOW_VAR_HEALTH_RECONCILE``), else the defaults; keys that are not
    reconcile tuning (retention_days, alert_*) are ignored."""
    import json
    import os

    from include.health.whatsapp.settings import ReconcileSettings

    text = text if text is not None else os.environ.get("AIRFLOW_VAR_HEALTH_RECONCILE")
    if not text:
        return ReconcileSettings()
    try:
        value = json.loads(text)
        if not isinstance(value, dict):
            raise ValueError("not a JSON object")
        return ReconcileSettings.from_mapping({k: v for k, v in value.items()
                                               if k in ReconcileSettings.__dataclass_fields__})
    except ValueError as exc:
        raise CliError(f"health_reconcile settings: {exc}", code=2) from None


def cmd_whatsapp_status(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from include.branch_sync.report import dumps
    from include.health.whatsapp.sightings import ensure_sightings_table
    from include.health.whatsapp.status import whatsapp_status

    db = open_database(args.app_conn, out)
    try:
        ensure_sightings_table(db)
        status = whatsapp_status(db, args.workspace, _settings(args.settings))
    except Exception as exc:
        text = str(exc).lower()
        if any(s in text for s in ("no such table", "does not exist", "doesn't exist")):
            raise CliError(f"table whatsapp_accounts is missing in connection {args.app_conn!r}") from None
        raise CliError(f"query on connection {args.app_conn!r} failed: {describe_error(exc)}") from None
    finally:
        db.close()
    out.write(dumps(status) + "\n" if args.json else render(status, color=use_color(args.color, out)))
    return 0


_COLORS = {"connected": "32", "disconnected": "31", "qr_required": "33"}


def _said(service: dict[str, Any]) -> str:
    """What the service last said and since when (its own word beside the flap-guarded status)."""
    if not service["status"]:
        return "-"  # not asked yet (no reconcile run has read this session)
    return f"{service['status']} since {service['since']}"


def _uptime(figures: dict[str, Any]) -> str:
    """``99.3% (287/288) · 97.0% (1955/2016)``: the share of checks that found it up, per window."""
    return " · ".join(f"{w['percent']:.1f}% ({w['up_checks']}/{w['checks']})" if w["checks"] else "-"
                      for w in figures.values())


def render(status: dict[str, Any], *, color: bool = False) -> str:
    from include.common.text import EMPTY, colorize, render_table, truncate

    where = f" (workspace {status['workspace']})" if status["workspace"] is not None else ""
    lines = ["=" * 68, colorize(f"WhatsApp Accounts{where}", "1", color), "=" * 68, ""]
    if not status["accounts"]:
        return "\n".join(lines + ["No accounts found."]) + "\n"
    cells, colors = [], []
    for a in status["accounts"]:
        guard, audit, rc = a["flap_guard"], a["audit"], a["reconnect"]
        guard_text = (f"missing {guard['missing_count']}/{guard['missing_needed']}" if guard["missing_count"]
                      else f"seen {guard['connected_count']}/{guard['connected_needed']}" if guard["connected_count"]
                      else EMPTY)
        if rc["attempts"] or rc["pending"]:
            rc_text = f"{rc['attempts']}/{rc['max_attempts']}" + (f" {rc['state']}" if rc["state"] else "")
            if rc["state"] == "backing_off":
                rc_text += f" until {rc['next_attempt_at']}"
        else:
            rc_text = EMPTY
        cells.append([str(a["id"]), str(a["workspace_id"]), a["session_id"] or EMPTY, a["phone_number"] or EMPTY,
                      a["status"] + ("" if a["is_active"] else " (inactive)"), _said(a["service"]), guard_text,
                      audit["auto_disconnected_at"] or EMPTY, truncate(audit["reason"] or EMPTY, 40),
                      audit["auto_reconnect_at"] or EMPTY, rc_text, _uptime(a["uptime"])])
        colors.append([None, None, None, None, _COLORS.get(a["status"]), _COLORS.get(a["service"]["status"]), None,
                       None, None, None,
                       "31" if rc["state"] == "capped" else None, None])
    lines.append(render_table(("ID", "Workspace", "Session", "Phone", "Status", "Service says", "Flap guard", "Auto-disconnected",
                               "Reason", "Auto-reconnect", "Reconnects", "Uptime 24h · 7d"), cells, colors, color=color))
    lines.append("Uptime: the share of health_reconcile's checks in the window at which the service said connected "
                 "(up/checks; a check the service did not answer counts as down).")
    totals = ", ".join(f"workspace {w}: " + ", ".join(f"{n} {s}" for s, n in sorted(c.items()))
                       for w, c in sorted(status["workspaces"].items()))
    lines += ["", f"Totals: {totals}"]
    return "\n".join(lines) + "\n"
