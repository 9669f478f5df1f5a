"""A small reader of the Dockerfile: stages and their instructions."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from tests.deploy.code_facts import ROOT

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str

    def exec_form(self) -> list[str]:
        value = json.loads(self.arguments)
        assert isinstance(value, list), f"{self.keyword} is not in exec form"
        return [str(v) for v in value]


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def copies(self) -> list[tuple[list[str], str]]:
        """(sources, destination) of each COPY from the build context."""
        found = []
        for copy in self.all("COPY"):
            words = shlex.split(copy.arguments)
            if any(w.startswith("--from=") for w in words):
                continue
            words = [w for w in words if not w.startswith("--")]
            found.append((words[:-1], words[-1]))
        return found

    def run_commands(self, containing: str) -> list[list[str]]:
        """The shell words of each RUN whose command contains `containing`,
        without its --mount options."""
        found = []
        for run in self.all("RUN"):
            words = [w for w in shlex.split(run.arguments) if not w.startswith("--mount=")]
            if containing in " ".join(words):
                found.append(words)
        return found

    def env(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for instruction in self.all("ENV"):
            found.update(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=(\S+)", instruction.arguments))
        return found


def instructions(path: Path = DOCKERFILE) -> list[Instruction]:
    # Join continuation lines, drop comments and blank lines.
    logical: list[str] = []
    pending = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    result = []
    for text in logical:
        keyword, _, arguments = text.partition(" ")
        result.append(Instruction(keyword.upper(), arguments.strip()))
    return result


def stages(path: Path = DOCKERFILE) -> list[Stage]:
    args: dict[str, str] = {}
    found: list[Stage] = []
    for instruction in instructions(path):
        if instruction.keyword == "ARG" and not found:
            name, _, default = instruction.arguments.partition("=")
            args[name] = default
        elif instruction.keyword == "FROM":
            match = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", instruction.arguments, re.IGNORECASE)
            assert match, instruction.arguments
            base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], match.group(1))
            found.append(Stage(base, match.group(2)))
        elif found:
            found[-1].instructions.append(instruction)
    return found


def dockerignore() -> list[str]:
    lines = DOCKERIGNORE.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(path: str, patterns: list[str] | None = None) -> bool:
    """Docker's rule, simplified: the last matching pattern wins; a match on a
    parent directory excludes everything below it."""
    patterns = dockerignore() if patterns is None else patterns
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        bare = pattern.lstrip("!").rstrip("/")
        if bare.startswith("**/"):
            matched = any(fnmatch.fnmatch(p.rsplit("/", 1)[-1], bare[3:]) for p in prefixes)
        else:
            matched = any(fnmatch.fnmatch(p, bare) for p in prefixes)
        if matched:
            excluded = not negate
    return excluded
