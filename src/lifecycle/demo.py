"""`make demo` / `python -m lifecycle.demo`: Waiblingen 2017 through all five gates on Prefect.

The orchestration lives in flows/demo.py (next to the flows it runs), installed as
``lifecycle.flows.demo``; the scenario is shipped as ``lifecycle/examples/waiblingen-2017.yaml``,
so the demo runs from a wheel install too. Its files go to ./out/demo (or LIFECYCLE_DEMO_DIR).
"""

from __future__ import annotations

import sys


def main() -> int:
    from lifecycle.flows.demo import main as demo_main

    return demo_main(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
