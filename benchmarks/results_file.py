"""Where benchmark scripts put their figures: one marked section each in RESULTS.md."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def write_section(name: str, text: str, block: str | None = None, results: Path = RESULTS) -> None:
    """Replace the section between `<!-- name:begin -->` and `<!-- name:end -->` (or
    `name[block]` for a second run kept beside the first), appending it when absent."""
    tag = f"{name}[{block}]" if block else name
    begin, end = f"<!-- {tag}:begin -->", f"<!-- {tag}:end -->"
    old = results.read_text() if results.is_file() else "# Benchmark results\n\n"
    section = f"{begin}\n{text}\n{end}"
    if begin in old and end in old:
        new = old[:old.index(begin)] + section + old[old.index(end) + len(end):]
    else:
        new = old.rstrip("\n") + "\n\n" + section + "\n"
    results.write_text(new)
    print(f"written to {results}")
