"""Entry point: `gunicorn main_run:app`, `python main_run.py`, or `python main_run.py --demo`.

The WSGI application is built lazily on first access to `app`, so
`python main_run.py --demo` and `--gen-fernet-key` work without configuration.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def _cannot_start(error: Exception) -> SystemExit:
    """Exit after one line naming the variable.

    3 is gunicorn's "worker failed to boot": its master stops instead of respawning workers forever.
    """
    sys.stderr.write(f"FabLab Bridge cannot start: {error}\n")
    return SystemExit(3)


def _build(*, serving: bool = False) -> Any:
    from bridge import create_app
    from bridge.application import bridge_of
    from bridge.config import ConfigError

    try:
        application = create_app()
    except ConfigError as error:
        raise _cannot_start(error) from None
    # A gunicorn worker (its master sets SERVER_SOFTWARE) or the development server runs the in-process
    # jobs; `flask --app main_run ...` commands build the same app without them.
    if serving or os.environ.get("SERVER_SOFTWARE", "").startswith("gunicorn/"):
        bridge_of(application).start_background()
    return application


def __getattr__(name: str) -> Any:
    """`main_run.app` for gunicorn and `flask --app main_run`, built once on first access."""
    if name == "app":
        application = _build()
        globals()["app"] = application
        return application
    raise AttributeError(name)


def main(argv: list[str] | None = None) -> None:
    """Serve the bridge (development server), the demo, or print a new Fernet key."""
    parser = argparse.ArgumentParser(description="FabLab Bridge")
    parser.add_argument("--demo", action="store_true", help="run with the built-in Fabman simulator, no accounts needed")
    parser.add_argument("--gen-fernet-key", action="store_true", help="print a new Fernet key and exit")
    parser.add_argument("--port", type=int, default=None, help="port (default: PORT, or 5000)")
    parser.add_argument(
        "--host", default=None, help="interface to listen on (default: 127.0.0.1 for the demo, 0.0.0.0 otherwise)"
    )
    args = parser.parse_args(argv)
    if args.gen_fernet_key:
        from cryptography.fernet import Fernet

        print(Fernet.generate_key().decode("ascii"))
        return
    if args.demo:
        from bridge.config import ConfigError, read_port

        try:
            from sandbox.demo import run_demo
        except ModuleNotFoundError:  # the production image ships the bridge only
            raise SystemExit("the demo needs the repository's sandbox/ package, which this installation does not have") from None
        try:
            port = args.port or read_port()
        except ConfigError as error:
            raise _cannot_start(error) from None
        run_demo(host=args.host or "127.0.0.1", port=port)
        return
    application = _build(serving=True)
    port = args.port or application.extensions["fablab_bridge"].settings.port
    application.run(host=args.host or "0.0.0.0", port=port)  # noqa: S104 - a server listens on all interfaces


if __name__ == "__main__":
    main()
