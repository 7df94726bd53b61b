"""The training summary: learning curves read from a run's metrics log (JSON Lines).

Each line is a dict. "kind": "train" lines carry env_steps, episodes, grad_steps, epsilon, loss,
mean_return, mean_burned_fraction, steps_per_s, elapsed_s (any may be null early); "kind": "val"
lines carry env_steps, val_reduction, val_reduction_random, best. Fractions (burned fraction,
reductions) are plotted as percentages.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from fuelbreak.errors import InputError
from fuelbreak.jsonlog import read_jsonl
from fuelbreak.viz.style import add_suptitle, new_figure, save_figure


def read_metrics(metrics_path) -> tuple[list[dict], list[dict]]:
    """The train and val records of a metrics log; InputError naming the path if missing, empty or broken."""
    path = Path(metrics_path)
    if not path.is_file():
        raise InputError(f"no metrics log found: {path} does not exist, so there is no training summary")
    train, val = [], []
    for record in read_jsonl(path, "metrics log"):  # a torn last line (a killed run) is dropped
        if record.get("kind") == "train":
            train.append(record)
        elif record.get("kind") == "val":
            val.append(record)
    if not train and not val:
        raise InputError(
            f"no metrics log found: {path} holds no training or validation records, so there is no "
            "training summary"
        )
    return train, val


def series(records: list[dict], key: str, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(env_steps, values) of the records where both are numbers; nulls and missing keys are skipped."""
    xs, ys = [], []
    for r in records:
        x, y = r.get("env_steps"), r.get(key)
        if _number(x) and _number(y):
            xs.append(float(x))
            ys.append(float(y) * scale)
    return np.asarray(xs), np.asarray(ys)


def _number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _no_data(ax, what: str) -> None:
    ax.set_yticks([])
    ax.text(0.5, 0.5, f"no {what} logged yet", ha="center", va="center", transform=ax.transAxes, color="0.4")


def _line(ax, records, key, label, ylabel, scale=1.0, colour="C0") -> bool:
    x, y = series(records, key, scale)
    ax.set_ylabel(ylabel)
    if not x.size:
        _no_data(ax, label)
        return False
    ax.plot(x, y, color=colour, marker="o" if x.size < 30 else None, markersize=3, linewidth=1.3)
    return True


def _validation(ax, val: list[dict]) -> None:
    ax.set_ylabel("reduction of expected\nburned area (%)")
    x, y = series(val, "val_reduction", 100.0)
    if not x.size:
        _no_data(ax, "validation")
        return
    ax.plot(x, y, color="C2", marker="o", markersize=3, linewidth=1.3, label="learned policy (greedy)")
    xr, yr = series(val, "val_reduction_random", 100.0)
    if xr.size:
        ax.plot(xr, yr, color="0.35", linestyle="--", linewidth=1.2, label="random placement")
    best = [r for r in val if r.get("best") is True and _number(r.get("val_reduction"))]
    if best:
        b = best[-1]
        ax.plot(
            b["env_steps"],
            100 * b["val_reduction"],
            marker="*",
            markersize=14,
            color="gold",
            markeredgecolor="black",
            linestyle="",
            label=f"best checkpoint ({100 * b['val_reduction']:.1f} %)",
        )
    ax.legend(fontsize=8, loc="best")


def _loss(ax, train: list[dict]) -> None:
    if _line(ax, train, "loss", "loss", "loss (Huber)", colour="C3"):
        _, y = series(train, "loss")
        if (y > 0).all():
            ax.set_yscale("log")
            ax.set_ylabel("loss (Huber, log scale)")


def plot_training_summary(metrics_path, path) -> Path:
    """Write return, burned area, validation reduction, loss, epsilon and speed against env steps.

    Raises InputError naming `metrics_path` when the log is missing or empty (nothing is written).
    """
    return save_figure(training_figure(metrics_path), path)


def training_figure(metrics_path) -> Figure:
    """The figure of `plot_training_summary`, unsaved."""
    train, val = read_metrics(metrics_path)
    fig = new_figure(11.0, 9.5)
    axes = fig.subplots(3, 2, sharex=True)
    _line(axes[0, 0], train, "mean_return", "return", "mean episode return")
    axes[0, 0].set_title("return")
    _line(
        axes[0, 1], train, "mean_burned_fraction", "burned area", "mean burned area\n(% of tile)", 100.0, "C1"
    )
    axes[0, 1].set_title("burned area in training episodes")
    _validation(axes[1, 0], val)
    axes[1, 0].set_title("validation on held-out tiles")
    _loss(axes[1, 1], train)
    axes[1, 1].set_title("TD loss")
    _line(axes[2, 0], train, "epsilon", "epsilon", "epsilon (exploration rate)", colour="C4")
    axes[2, 0].set_title("exploration")
    _line(axes[2, 1], train, "steps_per_s", "speed", "env steps per second", colour="C5")
    axes[2, 1].set_title("throughput")
    for ax in axes.ravel():
        ax.grid(True, alpha=0.3)
    for ax in axes[2]:
        ax.set_xlabel("environment steps")
    counts = f"{len(train)} training and {len(val)} validation records"
    return add_suptitle(fig, f"training summary of {_run_name(metrics_path)} ({counts})", fontsize=12)


def _run_name(metrics_path) -> str:
    path = Path(metrics_path).resolve()
    return f"run '{path.parent.name}'" if path.parent.name else f"'{path.name}'"
