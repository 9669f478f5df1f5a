"""The README as a new user follows it: the walk-through against `make dev`."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import readme_walkthrough
from tests.e2e.dev_stack import ROOT, UP_LINE, DevStack, dev_env, make_dev

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

README = ROOT / "README.md"
# The addresses the README names, as `make dev` binds them by default.
README_ADDRESSES = {
    "grpc": "127.0.0.1:50051",
    "emulator": "127.0.0.1:12111",
    "gateway": "127.0.0.1:8080",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    env = dev_env(tmp_path_factory.mktemp("readme"))
    with make_dev(env) as started:
        assert started.wait_for_line(UP_LINE, 180), started.output()
        yield started


def on_this_stack(text: str, stack: DevStack, ids: dict[str, str] | None = None) -> str:
    """The README's text with the test's ports (and the ids answered so far)."""
    ports = {
        README_ADDRESSES["grpc"]: stack.grpc_address,
        README_ADDRESSES["emulator"]: stack.emulator_url.removeprefix("http://"),
        README_ADDRESSES["gateway"]: stack.gateway_url.removeprefix("http://"),
    }
    for written, actual in {**ports, **(ids or {})}.items():
        text = text.replace(written, actual)
    return text


def test_the_walkthrough_has_a_call_for_every_rpc() -> None:
    from billing.v1 import billing_pb2

    methods = billing_pb2.DESCRIPTOR.services_by_name["BillingService"].methods_by_name
    commands = " ".join(
        step.command for block in readme_walkthrough.blocks(README) for step in block
    )
    missing = [name for name in methods if f"billing.v1.BillingService/{name}" not in commands]
    assert not missing, f"no walk-through call for {missing}"


def test_the_walkthrough_answers_as_the_readme_shows(stack: DevStack, tmp_path: Path) -> None:
    blocks = readme_walkthrough.blocks(README)
    assert len(blocks) >= 4, "the walk-through blocks lost their <!-- walkthrough --> marks"
    ids: dict[str, str] = {}
    shell_env = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    for block in blocks:
        for written in block:
            step = readme_walkthrough.Step(
                on_this_stack(written.command, stack, ids),
                [on_this_stack(line, stack) for line in written.expected],
            )
            command = step.command
            done = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", command],
                cwd=ROOT,
                env=shell_env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            said = f"$ {command}\n{done.stdout}{done.stderr}"
            if step.fails:
                assert done.returncode != 0, said
            else:
                assert done.returncode == 0, said
            shown = step.expected_json()
            if shown is not None:
                answers = readme_walkthrough.json_documents(done.stdout)
                assert any(readme_walkthrough.json_matches(shown, a) for a in answers), said
            missing = readme_walkthrough.missing_lines(
                step.expected_lines(), done.stdout + done.stderr
            )
            assert not missing, f"{said}\nnot in the output: {missing}"
            for placeholder, value in readme_walkthrough.learned_ids(done.stdout).items():
                ids.setdefault(placeholder, value)
