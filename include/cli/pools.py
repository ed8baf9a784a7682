"""``pools``: the per-branch pools of ``branch_sync`` (``sync_<conn_id>``), printed or created."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from include.cli.common import CliError

# -- pools --------------------------------------------------------------------------------------------
def add_pools(sub: Any) -> None:
    p = sub.add_parser("pools", help="show or create the per-branch pools of branch_sync",
                       description="One pool sync_<conn_id> per source connection of the sync config, with "
                                   "pool_slots slots. Without --apply: print them as JSON.")
    p.add_argument("--apply", action="store_true", help="create or update them with 'airflow pools import'")
    p.set_defaults(func=cmd_pools)


def cmd_pools(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import json

    from include.branch_sync.config import ConfigError, load_config
    from include.branch_sync.pools import apply_pools, pool_specs

    try:
        config = load_config()
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    if not args.apply:
        out.write(json.dumps(pool_specs(config), indent=2, sort_keys=True) + "\n")
        return 0
    try:
        apply_pools(config)
    except RuntimeError as exc:
        raise CliError(str(exc)) from None
    out.write(f"{len(pool_specs(config))} pools set: {', '.join(pool_specs(config))}\n")
    return 0
