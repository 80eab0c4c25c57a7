"""``python -m webresearch.cli``: the command line, as the ``webresearch`` script runs it."""

from __future__ import annotations

from webresearch.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    raise SystemExit(main())
