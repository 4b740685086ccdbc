"""The options bench/chat.py and bench/stream.py both take, in the order --help lists them."""

from __future__ import annotations

import argparse


def add_server_args(parser: argparse.ArgumentParser, db: str) -> None:
    parser.add_argument("--db", default=db, help="database to (re)create")
    parser.add_argument(
        "--build",
        default="",
        help="root of the build to measure (a git worktree with its own .venv; default: this "
        "tree); its gunicorn.conf.py and bench/seed.py are used, this tree's load and report",
    )
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--settings", default="config.settings.production")
    parser.add_argument("--port", type=int, default=0, help="gateway port (0: any free)")
    parser.add_argument("--upstream-port", type=int, default=0)


def add_gateway_args(parser: argparse.ArgumentParser, gunicorn_help: str) -> None:
    parser.add_argument(
        "--env", action="append", default=[], help="KEY=VALUE for the gateway (repeatable)"
    )
    parser.add_argument("--gunicorn-arg", action="append", default=[], help=gunicorn_help)
    parser.add_argument(
        "--py-spy", action="store_true", help="sample the workers with py-spy in gateway phases"
    )


def add_output_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database")
    parser.add_argument("--keep-logs", action="store_true", help="keep the temporary log dir")
    parser.add_argument("--json", default="", help="also write raw results to this file")


def int_list(text: str) -> list[int]:
    """A comma-separated list of integers (an option's type)."""
    return [int(x) for x in text.split(",")]
