"""The quality frontier: each planner at several efforts, reduction against seconds a plan.

A user with a few seconds a plan wants to know which planner to run; `fuelbreak evaluate
--frontier` answers it on held-out tiles. Each planner runs at several efforts (its planning fires:
tree-greedy, greedy and the policy-guided search; the policy as shipped), every plan is scored on
the same evaluation fires (`fuelbreak.evaluation.run.evaluate`), and the frontier table and plot
give each point's mean reduction with its confidence interval against its mean seconds a plan.

Reference rows are not methods: tree-greedy and the search planned *in-sample*, on the very fires
that score the plans (`in_sample`), tell how much a planner could still gain by knowing the fires.
They are labelled as references in every output.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from fuelbreak.errors import ConfigError
from fuelbreak.evaluation.report import _num, _span
from fuelbreak.evaluation.stats import CI_METHOD, CONFIDENCE

# planner -> its efforts (planning fires a plan); None: the planner as it is
EFFORTS: dict[str, tuple[int, ...] | None] = {
    "tree_greedy": (64, 256, 1024),
    "tree_greedy+prune": (64, 256, 1024),
    "greedy": (50, 200),
    "dqn_search": (256, 512, 1024),
    "dqn": None,
}
REFERENCES = ("tree_greedy", "dqn_search")  # planned on the scoring fires: how much is left
# planners that are a method with options: label METHOD@N+SUFFIX
VARIANTS = {"tree_greedy+prune": ("tree_greedy", "+prune", {"prune_rounds": 3})}
IN_SAMPLE = "in-sample"


def frontier_methods(
    planners: Sequence[str] | None = None,
    efforts: dict[str, Sequence[int]] | None = None,
    references: bool = True,
) -> tuple[list[str], dict[str, dict]]:
    """The method labels of a frontier and their options.

    Labels such as 'tree_greedy@256', 'dqn' or 'tree_greedy@in-sample'; options such as
    {label: {"n_fires": 256}} or {label: {"in_sample": True}}.
    """
    planners = list(planners or EFFORTS)
    unknown = [p for p in planners if p not in EFFORTS]
    if unknown:
        raise ConfigError(
            f"--frontier: no frontier for {', '.join(unknown)}; choose from {', '.join(EFFORTS)}"
        )
    efforts = {**{k: v for k, v in EFFORTS.items()}, **{k: tuple(v) for k, v in (efforts or {}).items()}}
    labels: list[str] = []
    options: dict[str, dict] = {}
    for planner in planners:
        levels = efforts[planner]
        if levels is None:
            labels.append(planner)
            continue
        method, suffix, extra = VARIANTS.get(planner, (planner, "", {}))
        for n in levels:
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ConfigError(f"--frontier-efforts {planner}: efforts are planning fires >= 1, got {n!r}")
            label = f"{method}@{n}{suffix}"
            labels.append(label)
            options[label] = {"n_fires": int(n), **extra}
    if references:
        for planner in (p for p in REFERENCES if p in planners):
            label = f"{planner}@{IN_SAMPLE}"
            labels.append(label)
            options[label] = {"in_sample": True}
    return labels, options


def parse_efforts(items: Sequence[str] | None) -> dict[str, tuple[int, ...]]:
    """--frontier-efforts PLANNER=N,N,... items as {planner: (N, ...)}."""
    out: dict[str, tuple[int, ...]] = {}
    for item in items or []:
        name, sep, text = item.partition("=")
        try:
            levels = tuple(int(t) for t in text.split(",") if t.strip())
        except ValueError:
            levels = ()
        if not sep or name not in EFFORTS or EFFORTS[name] is None or not levels or min(levels) < 1:
            raise ConfigError(
                f"--frontier-efforts {item!r}: expected PLANNER=N,N,... with PLANNER one of "
                f"{', '.join(k for k, v in EFFORTS.items() if v is not None)} and N planning fires >= 1"
            )
        out[name] = levels
    return out


def frontier_rows(summary: Sequence[dict], options: dict[str, dict]) -> list[dict]:
    """One row per frontier point.

    Planner, effort, kind (method or reference), reduction with its interval and seconds a plan, from an
    evaluation's summary (its first budget).
    """
    budget = summary[0]["budget"] if summary else math.nan
    rows = []
    for r in summary:
        if r["budget"] != budget:
            continue
        planner, _, effort = r["method"].partition("@")
        for name, (method, suffix, _) in VARIANTS.items():
            if planner == method and suffix and effort.endswith(suffix):
                planner, effort = name, effort[: -len(suffix)]
        reference = bool(options.get(r["method"], {}).get("in_sample"))
        rows.append(
            {
                "label": r["method"] + (" (reference, not a method)" if reference else ""),
                "planner": planner,
                "effort": effort or "as shipped",
                "kind": "reference" if reference else "method",
                "tiles": r["tiles"],
                "reduction_pct": r["reduction_pct"],
                "reduction_ci_low": r["reduction_ci_low"],
                "reduction_ci_high": r["reduction_ci_high"],
                "plan_seconds": r["plan_seconds"],
            }
        )
    return rows


FRONTIER_COLUMNS = (
    "label",
    "planner",
    "effort",
    "kind",
    "tiles",
    "reduction_pct",
    "reduction_ci_low",
    "reduction_ci_high",
    "plan_seconds",
)


def _loss(info: dict, area: str = "burned area") -> str:
    """What the reductions are of: the evaluation's objective ('value lost', else `area`)."""
    return "value lost" if info.get("objective") == "value" else area


def frontier_markdown(rows: Sequence[dict], info: dict) -> str:
    """The frontier as a Markdown table, fastest first, with what the rows mean."""
    lines = [
        f"Quality frontier on {info['n_tiles']} {info['split']} tiles, {info['n_fires']} evaluation fires per "
        f"tile, budget {info['budgets'][0]:g}, seed {info['seed']}.",
        "",
        "| planner | effort (planning fires) | reduction % [95 % CI] | s / plan |",
        "|---|---:|---:|---:|",
    ]
    for r in sorted(rows, key=lambda r: (r["kind"] == "reference", r["plan_seconds"])):
        name = r["planner"] + (" *(in-sample reference, not a method)*" if r["kind"] == "reference" else "")
        effort = "the scoring fires" if r["kind"] == "reference" else r["effort"]
        ci = f"[{_num(r['reduction_ci_low'], '.1f')}, {_num(r['reduction_ci_high'], '.1f')}]"
        lines.append(
            f"| {name} | {effort} | {_num(r['reduction_pct'], '.1f')} {ci} | {_num(r['plan_seconds'], '.3g')} |"
        )
    lines += [
        "",
        f"Reduction: 100 x (1 - {_loss(info, 'burned')} with / without the plan) per tile, mean over tiles, {CONFIDENCE:.0%} "
        f"interval by {CI_METHOD}. s / plan: wall-clock seconds a plan on this machine (compare ratios). "
        "Effort: planning fires a plan (the policy as shipped observes 64 fires per 2,500 cells). "
        "In-sample references plan on the very fires that score them: they tell the headroom left, "
        "no planner can see those fires.",
    ]
    return "\n".join(lines) + "\n"


def frontier_figure(rows: Sequence[dict], info: dict):
    """Reduction (with its CI) against seconds a plan, one line per planner through its efforts.

    The in-sample references as hollow markers. A matplotlib Figure (Agg).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.5, 4.8))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    colours: dict[str, str] = {}
    for planner in dict.fromkeys(r["planner"] for r in rows):
        for kind in ("method", "reference"):
            pts = sorted(
                (r for r in rows if r["planner"] == planner and r["kind"] == kind),
                key=lambda r: r["plan_seconds"],
            )
            if not pts:
                continue
            x = [r["plan_seconds"] for r in pts]
            y = [r["reduction_pct"] for r in pts]
            err = [
                [_span(r["reduction_pct"], r["reduction_ci_low"]) for r in pts],
                [_span(r["reduction_ci_high"], r["reduction_pct"]) for r in pts],
            ]
            if kind == "method":
                line = ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=planner)
                colours[planner] = line[0].get_color()
                for r in pts:
                    if r["effort"] != "as shipped":
                        ax.annotate(r["effort"], (r["plan_seconds"], r["reduction_pct"]), fontsize=7,
                                    xytext=(3, -10), textcoords="offset points")  # fmt: skip
            else:
                ax.errorbar(x, y, yerr=err, marker="D", mfc="none", ls="none", capsize=3, color=colours.get(planner),
                            label=f"{planner}, in-sample (reference)")  # fmt: skip
    ax.set_xscale("log")
    from matplotlib.ticker import FuncFormatter

    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "25" else ""))
    ax.set_xlabel("seconds a plan (log scale)")
    ax.set_ylabel(f"reduction of mean {_loss(info)} (%)")
    ax.set_title(
        f"Quality against time: {info['n_tiles']} {info['split']} tiles, {info['n_fires']} fires each, "
        f"budget {info['budgets'][0]:g}\n(numbers: planning fires; bars: {CONFIDENCE:.0%} CI; hollow: in-sample "
        "references, not methods)",
        fontsize=9,
    )
    ax.grid(True, alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    return fig


def write_frontier(ev, options: dict[str, dict], outdir) -> dict:
    """frontier.csv, frontier.md and frontier.png of an evaluation run with `frontier_methods`."""
    from pathlib import Path

    from fuelbreak.evaluation.report import csv_text, save_png, write_text

    outdir = Path(outdir)
    rows = frontier_rows(ev.summary, options)
    return {
        "frontier_csv": write_text(outdir / "frontier.csv", csv_text(rows, FRONTIER_COLUMNS)),
        "frontier": write_text(outdir / "frontier.md", frontier_markdown(rows, ev.info)),
        "frontier_plot": save_png(frontier_figure(rows, ev.info), outdir / "frontier.png"),
    }
