"""`make demo` / `python -m lifecycle.demo`: Waiblingen 2017 through all five gates on Prefect.

The orchestration lives in flows/demo.py (next to the flows it runs); this entry point puts
the repository root on sys.path so a fresh clone needs nothing else.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def main() -> int:
    if not (REPO / "flows" / "demo.py").exists():
        print("flows/ not found next to src/: run the demo from a clone of the repository")
        return 2
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from flows.demo import main as demo_main

    return demo_main(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
