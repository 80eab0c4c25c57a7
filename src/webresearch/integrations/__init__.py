"""Adapters for the RL frameworks people train with: TRL, verl, OpenEnv and verifiers.

Each adapter is its own module (``webresearch.integrations.trl`` and so on) and imports
its framework only when used; install it with the extra of the same name
(``pip install -e '.[trl]'``).
"""

from __future__ import annotations

__all__: list[str] = []
