"""The Dockerfile builds wheels in one stage and runs them in a slim one."""

from __future__ import annotations

import json
import re
import tomllib

import pytest

from tests.deploy.code_facts import (
    ROOT,
    console_scripts,
    gateway_settings,
    server_binds_all_interfaces,
    server_ports,
)
from tests.deploy.dockerfile import Stage, ignored, stages

pytestmark = pytest.mark.unit

BUILD_TOOLS = ("gcc", "g++", "build-essential", "make", "libpq-dev", "python3-dev")


def final_stage() -> Stage:
    return stages()[-1]


def test_a_builder_stage_makes_the_wheels_of_both_projects() -> None:
    all_stages = stages()
    assert len(all_stages) >= 2
    builder = all_stages[0]
    assert builder.name == "builder"
    wheel_commands = [r.arguments for r in builder.all("RUN") if "pip wheel" in r.arguments]
    assert wheel_commands, "the builder stage builds no wheels"
    command = wheel_commands[0]
    assert "./clients/python" in command
    assert re.search(r"\s'?\.(\[[a-z,]+\])?'?(\s|$)", command), "the project itself is not built"


def test_the_image_installs_the_emulators_extra() -> None:
    (install,) = final_stage().run_commands("pip install")
    assert "paymentsvc[emulator]" in install
    (wheel,) = stages()[0].run_commands("pip wheel")
    assert ".[emulator]" in wheel


def test_the_builder_copies_every_package_the_project_ships() -> None:
    with (ROOT / "pyproject.toml").open("rb") as file:
        include = tomllib.load(file)["tool"]["setuptools"]["packages"]["find"]["include"]
    copied = {source.rstrip("/") for sources, _ in stages()[0].copies() for source in sources}
    packages = {pattern.rstrip("*") for pattern in include}
    assert packages <= copied, f"the Dockerfile does not copy {sorted(packages - copied)}"


def test_the_image_checks_the_servers_health_with_the_fast_probe() -> None:
    (check,) = final_stage().all("HEALTHCHECK")
    command = json.loads(check.arguments.split("CMD", 1)[1])
    assert command[0] == "billing-probe"
    assert command[0] in console_scripts()
    timeout = re.search(r"--timeout=(\d+)s", check.arguments)
    assert timeout
    probe_timeout = float(command[command.index("--timeout") + 1])
    # The probe gives up, and says why, before Docker kills it.
    assert probe_timeout < int(timeout.group(1))


def test_the_final_stage_is_slim_python_of_the_required_version() -> None:
    with (ROOT / "pyproject.toml").open("rb") as file:
        requires = tomllib.load(file)["project"]["requires-python"]
    base = final_stage().base
    assert re.fullmatch(r"python:3\.\d+-slim(-\w+)?", base), base
    minimum = re.search(r">=\s*3\.(\d+)", requires)
    assert minimum
    assert int(base.split(".")[1].split("-")[0]) >= int(minimum.group(1))


def test_the_final_stage_installs_only_the_built_wheels() -> None:
    runs = [r.arguments for r in final_stage().all("RUN")]
    installs = [r for r in runs if "pip install" in r]
    assert installs
    for command in installs:
        assert "--no-index" in command, command
        assert "from=builder" in command, command


def test_the_final_stage_has_no_build_tools() -> None:
    for run in final_stage().all("RUN"):
        for tool in BUILD_TOOLS:
            assert not re.search(rf"(^|\s){re.escape(tool)}(\s|$)", run.arguments), run.arguments
    assert not final_stage().all("COPY") or all(
        "--from=builder" in c.arguments and "/wheels" in c.arguments
        for c in final_stage().all("COPY")
    )


def test_the_final_stage_runs_as_a_numeric_non_root_user() -> None:
    users = final_stage().all("USER")
    assert users, "no USER in the final stage"
    user = users[-1].arguments.split(":")[0]
    assert user.isdigit(), f"USER {user}: use the numeric id"
    assert int(user) != 0


def test_the_image_listens_on_every_interface() -> None:
    env = final_stage().env()
    assert server_binds_all_interfaces(env)
    assert env.get("PAYMENTSVC_METRICS_ADDRESS", "").startswith("0.0.0.0:")
    assert gateway_settings(env).host == "0.0.0.0"


def test_exposed_ports_are_the_ones_the_processes_bind() -> None:
    env = final_stage().env()
    expected = {*server_ports(env).values(), gateway_settings(env).port}
    exposed = {int(p) for e in final_stage().all("EXPOSE") for p in e.arguments.split()}
    assert exposed == expected


def test_the_default_command_is_the_server_and_any_script_can_replace_it() -> None:
    assert not final_stage().all("ENTRYPOINT"), "an ENTRYPOINT would swallow the command"
    cmd = final_stage().all("CMD")[-1].exec_form()
    assert cmd == ["billing-server"]
    assert cmd[0] in console_scripts()


@pytest.mark.parametrize(
    "path", [".venv", "node_modules", ".git", ".pytest_cache", "var", ".env", "tests"]
)
def test_dockerignore_keeps_local_state_and_secrets_out_of_the_context(path: str) -> None:
    assert ignored(path)


def test_dockerignore_keeps_everything_the_build_copies() -> None:
    sources = [source for stage in stages() for sources, _ in stage.copies() for source in sources]
    assert sources
    for source in sources:
        assert not ignored(source.rstrip("/")), source
