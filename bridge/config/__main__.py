"""`python -m bridge.config`: print or write `.env.example` and the configuration reference."""

from __future__ import annotations

import argparse
import sys

from bridge.config.reference import ROOT, env_example, reference, write


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bridge.config", description=__doc__)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--env-example", action="store_true", help="print .env.example")
    what.add_argument("--reference", action="store_true", help="print the reference tables of docs/configuration.md")
    what.add_argument("--write", action="store_true", help="rewrite .env.example and docs/configuration.md's reference")
    args = parser.parse_args(argv)
    if args.env_example:
        sys.stdout.write(env_example())
    elif args.reference:
        sys.stdout.write(reference())
    else:
        changed = write()
        print("\n".join(str(path.relative_to(ROOT)) for path in changed) or "both files are up to date")


if __name__ == "__main__":
    main()
