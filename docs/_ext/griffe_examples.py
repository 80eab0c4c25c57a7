"""A griffe extension: a Google-style ``Example:`` section is read as ``Examples:``.

Griffe knows ``Examples:`` (code, rendered as such) but takes the singular for an
admonition of Markdown text, in which ``>>>`` lines and ``[('a', 'b')]`` outputs are
read as quotes and links. The package's docstrings use both spellings.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_SINGULAR = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)


class ExamplesSection(griffe.Extension):
    """Rename each ``Example:`` section heading to ``Examples:`` before parsing."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _SINGULAR.sub(r"\1Examples:", obj.docstring.value)
