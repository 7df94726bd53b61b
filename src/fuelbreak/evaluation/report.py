"""The evaluation's files: per-tile CSV, summary CSV, Markdown summary, reduction-vs-budget plot.

Every file is rendered in memory and written atomically, so an interrupted run never leaves half a
table. Failed tiles appear in the per-tile CSV with their reason and empty numbers.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path

from fuelbreak.evaluation.stats import CI_METHOD, CONFIDENCE
from fuelbreak.export import atomic_write_bytes

TILE_COLUMNS = (
    "tile_index",
    "tile_name",
    "n_cells",
    "budget",
    "budget_cells",
    "method",
    "status",
    "error",
    "burned_without",
    "burned_with",
    "reduction_pct",
    "area_reduction_pct",
    "value_lost_without",
    "value_lost_with",
    "value_reduction_pct",
    "treated_cells",
    "treated_ha",
    "cost",
    "plan_seconds",
    "n_fires",
    "engine",
    "plan_seed",
    "fires_digest",
)
SUMMARY_COLUMNS = (
    "budget",
    "budget_cells",
    "budget_pct",
    "method",
    "tiles",
    "failed",
    "burned_without",
    "burned_with",
    "reduction_pct",
    "reduction_ci_low",
    "reduction_ci_high",
    "plan_seconds",
    "area_reduction_pct",
    "value_lost_without",
    "value_lost_with",
    "value_reduction_pct",
    "treated_ha",
    "cost",
)


def csv_text(rows: Sequence[dict], columns: Sequence[str]) -> str:
    """CSV with a header; None and NaN become empty cells (never a made-up number)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="raise", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: _cell(row.get(c)) for c in columns})
    return buf.getvalue()


def _cell(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return repr(round(value, 6))
    return value


def summary_columns(methods: Sequence[str]) -> tuple[str, ...]:
    """The summary table's columns, with one `win_vs_METHOD` column per method."""
    return (*SUMMARY_COLUMNS, *(f"win_vs_{m}" for m in methods))


def _num(value: float, fmt: str) -> str:
    return "n/a" if value is None or math.isnan(value) else format(value, fmt)


def _budget_title(rows: Sequence[dict]) -> str:
    r = rows[0]
    if r["budget"] < 1:
        return f"budget {r['budget'] * 100:g} % of each tile ({r['budget_cells']:g} cells)"
    return f"budget {r['budget']:g} cells ({r['budget_pct']:.2g} % of each tile)"


EXTRA_HEADS = {
    "area_reduction_pct": "burned area reduction %",
    "value_reduction_pct": "value lost reduction %",
    "cost": "cost",
}


def _any_number(rows: Sequence[dict], key: str) -> bool:
    return any(isinstance(r.get(key), float) and not math.isnan(r[key]) for r in rows)


def summary_markdown(summary: Sequence[dict], methods: Sequence[str], info: dict) -> str:
    """The summary as Markdown: one table per budget, then what the columns mean."""
    lines = [
        f"Evaluation on {info['n_tiles']} {info['split']} tiles, {info['n_fires']} evaluation fires per tile "
        f"({info['engine']} engine), seed {info['seed']}."
    ]
    for budget in dict.fromkeys(r["budget"] for r in summary):
        rows = [r for r in summary if r["budget"] == budget]
        objective = info.get("objective", "area")
        # the objective's own reduction is the CI column; the other loss's reduction and the cost follow it
        other = "area_reduction_pct" if objective == "value" else "value_reduction_pct"
        extra = [k for k in (other, "cost") if _any_number(rows, k)]
        if objective == "value":
            head = ["method", "tiles", "value lost, no breaks", "value lost, with breaks", "value lost reduction % [95 % CI]"]
            lost = ("value_lost_without", "value_lost_with")
        else:
            head = ["method", "tiles", "burned, no breaks", "burned, with breaks", "reduction % [95 % CI]"]
            lost = ("burned_without", "burned_with")
        head += [EXTRA_HEADS[k] for k in extra]
        head += [f"wins vs {m}" for m in methods] + ["s / plan"]
        lines += ["", f"**{_budget_title(rows)}**", "", "| " + " | ".join(head) + " |"]
        lines.append("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
        for r in rows:
            tiles = str(r["tiles"]) + (f" ({r['failed']} failed)" if r["failed"] else "")
            ci = f"[{_num(r['reduction_ci_low'], '.1f')}, {_num(r['reduction_ci_high'], '.1f')}]"
            cells = [
                r["method"],
                tiles,
                _num(r[lost[0]], ".4g" if objective == "value" else ".1f"),
                _num(r[lost[1]], ".4g" if objective == "value" else ".1f"),
                f"{_num(r['reduction_pct'], '.1f')} {ci}",
            ]
            cells += [_num(r.get(k, math.nan), ".1f" if k != "cost" else ".4g") for k in extra]
            cells += ["—" if m == r["method"] else _num(r[f"win_vs_{m}"], ".2f") for m in methods]
            cells.append(_num(r["plan_seconds"], ".3g"))
            lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Burned area: mean cells burned per fire, averaged over tiles (the same fires for every method). "
        + (
            "Value lost: mean value at risk burned per fire (the tiles' value layer); it is the objective here, and "
            "the reduction and wins are of it. "
            if info.get("objective") == "value"
            else ""
        )
        +
        f"Reduction: 100 x (1 - with / without) per tile, mean over tiles, {CONFIDENCE:.0%} interval by "
        f"{CI_METHOD}. Wins vs X: share of tiles on which the method burned less than X (ties count half). "
        "s / plan: wall-clock seconds to make one plan.",
    ]
    return "\n".join(lines) + "\n"


def reduction_figure(summary: Sequence[dict], methods: Sequence[str], info: dict):
    """Mean reduction (with its CI) against budget, one line per method; a matplotlib Figure (Agg)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    xs = [r["budget_pct"] for r in summary]
    dodge = 0.01 * ((max(xs) - min(xs)) or 1.0)  # sideways offset per method, so CI bars stay apart
    for i, method in enumerate(methods):
        rows = sorted((r for r in summary if r["method"] == method), key=lambda r: r["budget_pct"])
        x = [r["budget_pct"] + (i - (len(methods) - 1) / 2) * dodge for r in rows]
        y = [r["reduction_pct"] for r in rows]
        low = [_span(r["reduction_pct"], r["reduction_ci_low"]) for r in rows]
        high = [_span(r["reduction_ci_high"], r["reduction_pct"]) for r in rows]
        ax.errorbar(x, y, yerr=[low, high], marker="o", capsize=4, label=method)
    ax.set_xlabel("budget (% of the tile's cells treated)")
    ax.set_ylabel("reduction of mean burned area (%)")
    ax.set_title(
        f"Burned-area reduction vs budget: {info['n_tiles']} {info['split']} tiles, "
        f"{info['n_fires']} fires each\n(bars: {CONFIDENCE:.0%} CI, {CI_METHOD}; methods offset sideways)",
        fontsize=10,
    )
    ax.grid(True, alpha=0.3)
    ax.legend(title="method")
    return fig


def _span(a: float, b: float) -> float:
    """Length of a CI arm; 0 (no bar) where the interval is undefined."""
    return 0.0 if math.isnan(a) or math.isnan(b) else a - b


def save_png(fig, path: Path) -> Path:
    """Save `fig` as a PNG (120 dpi) at `path`, atomically; returns the path."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight", facecolor="white")
    atomic_write_bytes(path, buf.getvalue())
    return path


def write_text(path: Path, text: str) -> Path:
    """Write `text` to `path` as UTF-8, atomically; returns the path."""
    atomic_write_bytes(path, text.encode())
    return path
