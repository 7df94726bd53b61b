"""A real Ray cluster on this machine: `evaluate`, `simulate` and `train` through the CLI, a missing and a lost cluster.

Marked `cluster` (left out of the default `pytest -q`; `.ci/run` runs `pytest -q -m cluster` after
it). Each cluster is started with `ray start --head` bound to 127.0.0.1 on free ports, with a
second node joined with `ray start --address`, and stopped by the test. Every process of a
cluster carries a marker in its environment, so the test stops exactly its own processes (SIGTERM,
then SIGKILL), never another Ray on the machine, and checks that none is left.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil
import pytest

from tests.test_train import TINY

pytestmark = [pytest.mark.cluster, pytest.mark.ray]
pytest.importorskip("ray")

ROOT = Path(__file__).resolve().parents[1]
RAY = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray")
MARKER = "FUELBREAK_TEST_CLUSTER"
EVAL = ["--n-tiles", "30", "--tile-size", "20", "--max-tiles", "3", "--fires", "8", "--no-progress"]
EVAL += ["--methods", "random", "burn_probability", "--budget", "0.05", "--task-timeout", "120"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_for_children(**extra) -> dict:
    """This environment, with the repository (tests) and src on PYTHONPATH for Ray's workers, no RAY_ADDRESS."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    # Ray >= 2.5x turns on token authentication for `ray start --head`, with the token in ~/.ray,
    # shared by every Ray of this user; these loopback-only test clusters run without it.
    env["RAY_AUTH_MODE"] = "disabled"
    paths = [str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env.update(extra)
    return env


def node_ports() -> list[str]:
    """Free ports for everything a node listens on, so that no other Ray on this machine is in the way."""
    return [
        f"--node-manager-port={free_port()}",
        f"--object-manager-port={free_port()}",
        f"--dashboard-agent-listen-port={free_port()}",
        f"--dashboard-agent-grpc-port={free_port()}",
        f"--runtime-env-agent-port={free_port()}",
        f"--metrics-export-port={free_port()}",
    ]  # workers take ports from Ray's default range, skipping those in use


def marked_processes(tag: str) -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter():
        try:
            if p.environ().get(MARKER) == tag:
                out.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
    return out


def cluster_processes(tag: str) -> list[psutil.Process]:
    """The processes of one cluster: those with its marker and all their descendants. (Ray's Python
    processes rename themselves with setproctitle, which overwrites what /proc shows of their
    environment, so they are found as children of the marked raylet.)"""
    procs = {}
    for p in marked_processes(tag):
        procs[p.pid] = p
        try:
            procs.update({c.pid: c for c in p.children(recursive=True)})
        except psutil.NoSuchProcess:
            pass
    return list(procs.values())


def stop_cluster(tag: str) -> list[psutil.Process]:
    """Stop the processes of one cluster: SIGTERM, then SIGKILL; return those that were stopped."""
    procs = cluster_processes(tag)
    for p in procs:
        try:
            p.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=10)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=10)
    return procs


class Cluster:
    """`ray start --head` on 127.0.0.1 (1 CPU) and, with `workers`, more nodes of 1 CPU joined to it."""

    def __init__(self, workers: int = 1):
        self.tag = uuid.uuid4().hex
        self.temp_dir = tempfile.mkdtemp(prefix="fbray", dir="/tmp")  # short: Ray's socket paths are limited
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.env = env_for_children(**{MARKER: self.tag})
        try:
            self._ray("start", "--head", "--node-ip-address=127.0.0.1", f"--port={self.port}", "--num-cpus=1",
                      "--include-dashboard=false", f"--ray-client-server-port={free_port()}",
                      f"--temp-dir={self.temp_dir}", "--disable-usage-stats", *node_ports())  # fmt: skip
            for _ in range(workers):
                self._ray("start", f"--address={self.address}", "--node-ip-address=127.0.0.1", "--num-cpus=1",
                          "--disable-usage-stats", *node_ports())  # fmt: skip
        except BaseException:
            self.stop()
            raise

    def _ray(self, *args: str) -> None:
        done = subprocess.run([RAY, *args], env=self.env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"ray {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"

    def cpus(self) -> float:
        code = "import ray; ray.init(address=%r, logging_level='error'); print(ray.cluster_resources().get('CPU'))"
        done = subprocess.run([sys.executable, "-c", code % self.address], env=self.env, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
        return float(done.stdout.strip().splitlines()[-1])

    def stop(self) -> None:
        stopped = stop_cluster(self.tag)
        shutil.rmtree(self.temp_dir, ignore_errors=True)
        left = [p for p in stopped if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        left += cluster_processes(self.tag)
        assert not left, f"cluster processes left behind: {[(p.pid, p.name()) for p in left]}"


@pytest.fixture(scope="module")
def cluster():
    c = Cluster(workers=1)
    try:
        deadline = time.monotonic() + 60
        while c.cpus() < 2 and time.monotonic() < deadline:  # the second node has joined
            time.sleep(1)
        assert c.cpus() == 2
        yield c
    finally:
        c.stop()


def fuelbreak(*args: str, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fuelbreak", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)  # fmt: skip


def test_evaluate_on_the_cluster_named_by_ray_address(cluster, tmp_path):
    """The README's path that used to fail: RAY_ADDRESS=HEAD:PORT fuelbreak evaluate --executor ray."""
    env = env_for_children(RAY_ADDRESS=cluster.address)
    done = fuelbreak("evaluate", *EVAL, "--executor", "ray", "--outdir", str(tmp_path / "ev"), env=env)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    tiles = (tmp_path / "ev").glob("*")
    assert any(tiles) and "burn_probability" in done.stdout


def test_simulate_on_the_cluster_gives_the_figures_of_a_serial_run(cluster, tmp_path):
    argv = ["simulate", "--tile-size", "30", "--ignitions", "40", "--json", "--out", str(tmp_path / "bp.tif")]
    serial = fuelbreak(*argv, env=env_for_children())
    on_ray = fuelbreak(*argv, "--executor", "ray", "--ray-address", cluster.address, env=env_for_children())
    assert serial.returncode == 0 and on_ray.returncode == 0, on_ray.stderr
    a, b = json.loads(serial.stdout), json.loads(on_ray.stdout)
    a.pop("seconds"), b.pop("seconds")
    assert a == b


def test_train_on_the_cluster_named_by_the_flag(cluster, tmp_path):
    out = tmp_path / "run"
    args = ["train", "--quiet", "--executor", "ray", "--ray-address", cluster.address, "--outdir", str(out)]
    args += [*TINY, "run.total_env_steps=24", "run.executor=ray", "run.step_timeout=60"]
    done = fuelbreak(*args, env=env_for_children())
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["env_steps"] == 24
    assert (out / "checkpoints" / "last.pt").exists()
    assert "ray_address" in (out / "config.toml").read_text()


def test_a_windowed_plan_on_the_cluster_equals_the_serial_plan(cluster, tmp_path):
    """`fuelbreak plan --executor ray`: windows and scoring fires on the cluster, the landscape put in its
    object store once; the same plan and score as in one process."""
    env = env_for_children(RAY_ADDRESS=cluster.address)
    flags = ["plan", "--method", "tree_greedy", "--tile-size", "64", "--budget", "40", "--fires", "30",
             "--window", "32", "--halo", "8"]  # fmt: skip
    ray_run = fuelbreak(*flags, "--executor", "ray", "--out", str(tmp_path / "ray"), env=env)
    assert ray_run.returncode == 0, ray_run.stderr
    serial = fuelbreak(*flags, "--executor", "serial", "--out", str(tmp_path / "serial"), env=env)
    assert serial.returncode == 0, serial.stderr
    assert "windows (round 1): 4/4" in ray_run.stderr
    assert (tmp_path / "ray.tif").read_bytes() == (tmp_path / "serial.tif").read_bytes()
    score = [line for line in ray_run.stdout.splitlines() if "reduction" in line]
    assert score and score == [line for line in serial.stdout.splitlines() if "reduction" in line]


def test_a_missing_cluster_is_a_clear_error_not_a_hang(tmp_path):
    port = free_port()  # nothing listens there
    t0 = time.monotonic()
    done = fuelbreak("evaluate", *EVAL, "--executor", "ray", "--ray-address", f"127.0.0.1:{port}",
                     "--outdir", str(tmp_path / "ev"), env=env_for_children(), timeout=120)  # fmt: skip
    assert time.monotonic() - t0 < 60
    assert done.returncode == 6, done.stderr
    assert f"no Ray cluster answers at 127.0.0.1:{port} (from --ray-address" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_cluster_lost_mid_training_stops_it_with_a_checkpoint(tmp_path):
    c = Cluster(workers=0)
    out = tmp_path / "run"
    args = [sys.executable, "-m", "fuelbreak", "train", "--quiet", "--executor", "ray", "--outdir", str(out)]
    args += [*TINY, "run.total_env_steps=100000", "run.step_timeout=60", f"run.ray_address={c.address}"]
    proc = subprocess.Popen(args, env=env_for_children(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT)  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        metrics = out / "metrics.jsonl"
        while time.monotonic() < deadline and proc.poll() is None:  # wait until it is stepping on the cluster
            if metrics.exists() and '"kind": "train"' in metrics.read_text():
                break
            time.sleep(0.5)
        assert proc.poll() is None, proc.communicate()[1]
        # The head's control service (GCS) goes away mid-run, as a head machine that fails looks to a
        # driver on another machine. (A driver whose own node dies is killed by Ray itself, exit code 1:
        # that case is for `fuelbreak train --supervise` and the periodic checkpoints.)
        gcs = [p for p in marked_processes(c.tag) if p.name().startswith("gcs_server")]
        assert len(gcs) == 1
        gcs[0].kill()
        t0 = time.monotonic()
        _, err = proc.communicate(timeout=90)
        elapsed = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        c.stop()
    assert proc.returncode == 6, err
    assert elapsed < 30, err
    assert "lost the Ray cluster at" in err and "a checkpoint was saved" in err
    assert "Traceback" not in err
    assert (out / "checkpoints" / "last.pt").exists()
