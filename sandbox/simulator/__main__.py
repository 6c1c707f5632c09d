"""`python -m sandbox.simulator`: serve a fake Fabman until Ctrl-C or SIGTERM, for manual tries and the demo."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading

from .seed import demo_state, generated_state
from .server import FabmanSimulator


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sandbox.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seed", choices=("demo", "generated"), default="demo", help="which data set to serve")
    parser.add_argument("--members", type=int, default=1000, help="member count for --seed generated")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="latency added to every API request")
    parser.add_argument("--api-key", default="sim-admin-key", help="the Bearer key clients must send")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Serve until interrupted."""
    args = _parse_args(argv)
    state = demo_state() if args.seed == "demo" else generated_state(args.members)
    simulator = FabmanSimulator(state, api_key=args.api_key, host=args.host, port=args.port)
    simulator.faults.update(latency_ms=args.latency_ms)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stopping.set())
    with simulator:
        print(f"Fabman simulator serving {simulator.base_url} (control API: {simulator.root_url}/_sim/)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stopping.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
