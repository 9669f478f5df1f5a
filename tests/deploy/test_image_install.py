"""What the image would run, without a container runtime.

The Dockerfile's builder stage is replayed: exactly the files its COPY lines
take from the build context (less .dockerignore) go into an empty directory,
its `pip wheel` command builds the wheels there, and its runtime `pip
install` command installs them into a fresh virtual environment, with no
index. Then every console script has to start from that environment alone.
pip's own cache keeps the dependencies from being downloaded again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.deploy.code_facts import ROOT, console_scripts
from tests.deploy.dockerfile import Stage, ignored, stages
from tests.e2e.services import free_port, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

BUILD_TIMEOUT_S = 600


@dataclass(frozen=True)
class Image:
    bin: Path
    home: Path

    def env(self, **extra: str) -> dict[str, str]:
        """A clean environment: nothing from the checkout or its .venv leaks in."""
        kept = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
        path = f"{self.bin}{os.pathsep}{kept.get('PATH', '')}"
        return {**kept, "PATH": path, **extra}


def _copy_context(stage: Stage, context: Path) -> None:
    for sources, destination in stage.copies():
        for source in sources:
            origin = ROOT / source
            files = [origin] if origin.is_file() else sorted(origin.rglob("*"))
            for path in files:
                relative = path.relative_to(ROOT).as_posix()
                if path.is_dir() or ignored(relative):
                    continue
                # COPY dir/ dest/ puts the directory's contents under dest.
                inside = path.relative_to(origin) if origin.is_dir() else Path(path.name)
                target = context / destination / inside
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)


def _replay(words: list[str], python: Path, cwd: Path, wheels: Path) -> None:
    assert words[0] == "pip", words
    args = [str(wheels) if w == "/wheels" else w for w in words[1:]]
    result = subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, f"pip {' '.join(args)}:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    builder, runtime = stages()[0], stages()[-1]
    root = tmp_path_factory.mktemp("image")
    context, wheels, prefix = root / "src", root / "wheels", root / "venv"
    context.mkdir()
    _copy_context(builder, context)
    (pip_wheel,) = builder.run_commands("pip wheel")
    _replay(pip_wheel, Path(sys.executable), context, wheels)
    venv.create(prefix, with_pip=True)
    (pip_install,) = runtime.run_commands("pip install")
    # Run where nothing of the checkout is importable.
    home = root / "app"
    home.mkdir()
    _replay(pip_install, prefix / "bin" / "python", home, wheels)
    return Image(prefix / "bin", home)


def run(image: Image, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(image.bin / argv[0]), *argv[1:]],
        cwd=image.home,
        env=image.env(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def started(image: Image) -> Iterator[list[subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start(
    image: Image, processes: list[subprocess.Popen[bytes]], *argv: str, **env: str
) -> subprocess.Popen[bytes]:
    # The child keeps its own copy of the descriptor.
    with (image.home / f"{argv[0]}.log").open("wb") as log:
        process = subprocess.Popen(
            [str(image.bin / argv[0]), *argv[1:]],
            cwd=image.home,
            env=image.env(**env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    processes.append(process)
    return process


def alive(process: subprocess.Popen[bytes], image: Image, name: str) -> bool:
    if process.poll() is not None:
        log = (image.home / f"{name}.log").read_text(errors="replace")
        raise AssertionError(f"{name} exited {process.returncode}:\n{log}")
    return True


@pytest.mark.parametrize("script", sorted(console_scripts()))
def test_every_console_script_starts(image: Image, script: str) -> None:
    result = run(image, script, "--help")
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


def test_the_server_and_gateway_serve_from_the_installed_wheels(
    image: Image, started: list[subprocess.Popen[bytes]]
) -> None:
    emulator_port, grpc_port, gateway_port = free_port(), free_port(), free_port()
    emulator = start(image, started, "stripe-emulator", "--port", str(emulator_port))
    wait_until(
        lambda: (
            alive(emulator, image, "stripe-emulator")
            and httpx.get(f"http://127.0.0.1:{emulator_port}/_emulator/healthz").is_success
        ),
        30,
        "stripe-emulator from the image",
    )
    server_env = {
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{image.home / 'paymentsvc.db'}",
        "PAYMENTSVC_STRIPE_API_BASE": f"http://127.0.0.1:{emulator_port}",
        "PAYMENTSVC_GRPC_ADDRESS": f"127.0.0.1:{grpc_port}",
        "PAYMENTSVC_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
        "STRIPE_WEBHOOK_SECRET": "whsec_image_test",
    }
    migrated = run(image, "billing-admin", "migrate", **server_env)
    assert migrated.returncode == 0, migrated.stderr
    server = start(image, started, "billing-server", **server_env)
    wait_until(
        lambda: (
            alive(server, image, "billing-server")
            and run(image, "billing-probe", **server_env).returncode == 0
        ),
        60,
        "billing-server from the image",
    )
    assert "SERVING" in run(image, "billing-probe", **server_env).stdout
    gateway = start(
        image,
        started,
        "webhook-gateway",
        PAYMENTSVC_GATEWAY_PORT=str(gateway_port),
        PAYMENTSVC_BILLING_TARGET=f"127.0.0.1:{grpc_port}",
        STRIPE_WEBHOOK_SECRET="whsec_image_test",
    )
    wait_until(
        lambda: (
            alive(gateway, image, "webhook-gateway")
            and httpx.get(f"http://127.0.0.1:{gateway_port}/healthz").is_success
        ),
        30,
        "webhook-gateway from the image",
    )
