"""The ``deepkernel`` console script.

``deepkernel serve --host HOST --port PORT [--workers N]``: serve the API with uvicorn
(one server process; the numerics run in N worker processes).
``deepkernel openapi [--output PATH] [--check PATH]``: print, write or verify the OpenAPI
document (JSON, indent 2, trailing newline); ``--check`` exits 1 when the file differs.
``deepkernel warmup``: compile the numerics into numba's disk cache (:mod:`service.warmup`).
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
import time
from pathlib import Path

from service.settings import Settings, SettingsError, load_settings


def openapi_text() -> str:
    """The app's OpenAPI document as it is checked in."""
    from service.app import create_app

    spec = create_app(Settings()).openapi()
    return json.dumps(spec, indent=2, ensure_ascii=False) + "\n"


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service.app import create_app
    from service.logs import configure_logging

    overrides = {
        name: value
        for name, value in (("host", args.host), ("port", args.port), ("workers", args.workers))
        if value is not None
    }
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        print(f"deepkernel: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    uvicorn.run(
        lambda: create_app(settings),
        factory=True,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    return 0


def _openapi(args: argparse.Namespace) -> int:
    text = openapi_text()
    if args.check is not None:
        path = Path(args.check)
        current = path.read_text() if path.exists() else ""
        if current == text:
            return 0
        diff = difflib.unified_diff(
            current.splitlines(keepends=True),
            text.splitlines(keepends=True),
            fromfile=str(path),
            tofile="the app's OpenAPI document",
            n=2,
        )
        sys.stderr.writelines(list(diff)[:60])
        print(
            f"\ndeepkernel: {path} is out of date; regenerate it with "
            f"`deepkernel openapi --output {path}` and commit it",
            file=sys.stderr,
        )
        return 1
    if args.output is not None:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def _warmup(args: argparse.Namespace) -> int:
    from service.warmup import warm_up

    started = time.perf_counter()
    timings = warm_up()
    print(
        f"compiled or loaded every numba kernel: {len(timings)} requests in "
        f"{time.perf_counter() - started:.1f} s"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deepkernel", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the HTTP API")
    serve.add_argument("--host", help="interface to bind (DEEPKERNEL_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="TCP port (DEEPKERNEL_PORT, 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (DEEPKERNEL_WORKERS)")
    serve.set_defaults(handler=_serve)
    spec = commands.add_parser("openapi", help="print, write or check the OpenAPI document")
    target = spec.add_mutually_exclusive_group()
    target.add_argument("--output", help="write the document to this file")
    target.add_argument("--check", help="exit 1 if this file differs from the document")
    spec.set_defaults(handler=_openapi)
    warmup = commands.add_parser(
        "warmup", help="compile the numerics into numba's disk cache before serving"
    )
    warmup.set_defaults(handler=_warmup)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``deepkernel`` console script."""
    args = build_parser().parse_args(argv)
    code: int = args.handler(args)
    return code
