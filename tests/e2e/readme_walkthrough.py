"""The README's walk-through: its marked shell blocks, as commands and the
answers shown under them.

A block marked `<!-- walkthrough -->` runs command by command. The `# `
lines under a command are what it answers, shortened: a JSON answer matches
when every field shown has the value shown (`...` in a string stands for
any text, a `...` element for any further ones); other lines must each
appear in the output; an `ERROR:` line means the command fails.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MARK = "<!-- walkthrough -->"
_BLOCK = re.compile(re.escape(MARK) + r"\n```sh\n(.*?)^```", re.DOTALL | re.MULTILINE)
_ELLIPSIS = "..."


@dataclass(frozen=True)
class Step:
    command: str
    expected: list[str]

    @property
    def fails(self) -> bool:
        return "ERROR:" in [line.strip() for line in self.expected]

    def expected_json(self) -> Any | None:
        """The JSON shown before any ERROR line, with `...` made parseable."""
        lines = []
        for line in self.expected:
            if line.strip() == "ERROR:":
                break
            lines.append(line)
        text = " ".join(lines).strip()
        if not text.startswith("{"):
            return None
        # `..., }` / `, ... ]`: any further fields or elements.
        text = re.sub(r",\s*\.\.\.\s*(?=[}\]])", ', "__more__": true', text)
        text = re.sub(r"\[\s*([^\[\]]*?)\"__more__\": true\s*\]", r"[\1{}]", text)
        return json.loads(text)

    def expected_lines(self) -> list[str]:
        if self.expected_json() is None:
            return [line for line in self.expected if line.strip()]
        error = [line.strip() for line in self.expected].index("ERROR:") if self.fails else None
        return self.expected[error:] if error is not None else []


def blocks(readme: Path) -> list[list[Step]]:
    return [_steps(block) for block in _BLOCK.findall(readme.read_text())]


def _steps(block: str) -> list[Step]:
    steps: list[Step] = []
    command: list[str] = []
    for line in block.splitlines():
        if command and command[-1].endswith("\\"):
            command.append(line)
            continue
        if command:
            text = "\n".join(command)
            steps.append(Step(text, []))
            command = []
        if line.startswith("# ") and steps:
            steps[-1].expected.append(line[2:])
        elif line.strip() and not line.startswith("#"):
            command.append(line)
    if command:
        steps.append(Step("\n".join(command), []))
    return steps


def _pattern(shown: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in shown.split(_ELLIPSIS)), re.DOTALL)


def _normal(line: str) -> str:
    return " ".join(line.split())


def json_matches(shown: Any, actual: Any) -> bool:
    """Every field shown is in the answer with the value shown."""
    if isinstance(shown, dict):
        fields = {k: v for k, v in shown.items() if k != "__more__"}
        return (
            isinstance(actual, dict)
            and fields.keys() <= actual.keys()
            and all(json_matches(v, actual[k]) for k, v in fields.items())
        )
    if isinstance(shown, list):
        # Element by element; a trailing `{}` (from `...`) stands for the rest.
        open_ended = bool(shown) and shown[-1] == {}
        items = shown[:-1] if open_ended else shown
        return (
            isinstance(actual, list)
            and (len(actual) >= len(items) if open_ended else len(actual) == len(items))
            and all(json_matches(s, a) for s, a in zip(items, actual, strict=False))
        )
    if isinstance(shown, str) and _ELLIPSIS in shown:
        return isinstance(actual, str) and _pattern(shown).fullmatch(actual) is not None
    return bool(shown == actual)


def json_documents(text: str) -> list[Any]:
    """Every JSON value in `text`, one after another (a stream's messages)."""
    decoder = json.JSONDecoder()
    found: list[Any] = []
    index = 0
    while True:
        start = text.find("{", index)
        if start < 0:
            return found
        value, index = decoder.raw_decode(text, start)
        found.append(value)


def missing_lines(shown: list[str], output: str) -> list[str]:
    actual = [_normal(line) for line in output.splitlines()]
    return [
        line
        for line in shown
        if not any(_pattern(_normal(line)).fullmatch(candidate) for candidate in actual)
    ]


def learned_ids(output: str) -> dict[str, str]:
    """Ids in an answer, by the placeholder the README writes for them
    (`cs_test_...` for a checkout session id)."""
    found: dict[str, str] = {}
    for match in re.finditer(r"\b((?:cs|sub|cus|bps)_(?:test_)?)[A-Za-z0-9]{8,}\b", output):
        found.setdefault(f"{match.group(1)}{_ELLIPSIS}", match.group(0))
    return found
