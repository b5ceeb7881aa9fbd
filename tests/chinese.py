"""Is Chinese text hard-wrapped? (A line break inside a Chinese paragraph
renders as a stray space: "你将两次 构建".)

Shared by the notebooks' and the student README's tests.
"""
from __future__ import annotations

import re

CJK = re.compile(r"[\u4e00-\u9fff]")
# Lines that start a new unit of Markdown, so the line before may end.
STARTS = re.compile(r"^\s*([*-]|\d+\.)\s|^#|^\|")


def hard_wrapped(markdown: str) -> list[str]:
    """The lines of ``markdown`` that continue a paragraph holding Chinese
    on a new line; [] when every such paragraph (or list item) is one
    line. Fenced code blocks are left alone."""
    text = re.sub(r"(?ms)^```.*?^```", "", markdown)
    found = []
    for block in re.split(r"\n\s*\n", text):
        if not CJK.search(block):
            continue
        found += [line for line in block.strip("\n").split("\n")[1:]
                  if not STARTS.match(line)]
    return found
