"""Write the settings table of docs/configuration.md from ``Settings.describe()``.

    python scripts/gen_config_doc.py          # rewrite the table
    python scripts/gen_config_doc.py --check  # exit 1 if the page is stale (make test)

The table is everything between the page's first line starting ``| setting |`` and the first
line after it that is not a table row; the rest of the page is left as written.
"""

from __future__ import annotations

import sys
from pathlib import Path

from authority.process.config import Settings

PAGE = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
HEADER = ["| setting | environment variable | default | meaning |", "|---|---|---|---|"]


def table() -> list[str]:
    rows = list(HEADER)
    for name, env, default, doc in Settings.describe():
        shown = f"`{default}`" if default != "" else "(empty)"
        meaning = " ".join(doc.split()).replace("``", "`").replace("|", "\\|")
        rows.append(f"| `{name}` | `{env}` | {shown} | {meaning} |")
    return rows


def render(page: str) -> str:
    lines = page.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| setting |"))
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return "\n".join([*lines[:start], *table(), *lines[end:]]) + "\n"


def main(argv: list[str]) -> int:
    current = PAGE.read_text(encoding="utf-8")
    wanted = render(current)
    if "--check" in argv:
        if current != wanted:
            print(f"{PAGE} is stale: run python scripts/gen_config_doc.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
