#!/usr/bin/env python
"""Mutation testing of the modules whose numbers users rely on, with cosmic-ray (issue 27).

    pip install -e ".[dev,mutation]"
    python scripts/mutation.py                      # every mutant of every module: many hours
    python scripts/mutation.py --sample 10 --seed 0 # 10 mutants a module, drawn by the seed
    python scripts/mutation.py --sample 2 --max-minutes 6 --no-baseline --min-score 0.75  # CI's subset

Each module is mutated in a copy of the repository (cosmic-ray edits files in place), one mutant at
a time, and the tests that cover it (`MODULES`) are run against each mutant: a mutant is killed
when they fail (or time out), survives when they pass, and is incompetent when it cannot even be
imported. Surviving mutants known to be equivalent (the program means the same thing) are listed in
`scripts/mutation_equivalents.json` with the reason, and do not count against the score:

    score = killed / (killed + survived - equivalent)

The report (markdown, `--report`) gives the score per module and every survivor with its diff;
`--results` keeps the outcomes as JSON, and `--only-survivors-of` reruns just the survivors of an
earlier run (after new tests). `--max-minutes` bounds the whole run: mutants not reached are
reported as not run. With `--min-score`, the exit code is 1 when the pooled score is below it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENTS = Path(__file__).resolve().with_name("mutation_equivalents.json")

C = "tests/test_correctness.py::"
M = "tests/test_mutants.py"  # tests written for survivors
# module name -> (file, the tests that cover it, fastest and most absolute first; run with -x)
MODULES: dict[str, tuple[str, list[str]]] = {
    "fire.mtt": (
        "src/fuelbreak/fire/mtt.py",
        [C + "test_spread_on_other_grids_matches_the_analytic_circle", C + "test_the_rooms_tile_burns_as_designed",
         C + "test_a_break_touching_rock_at_a_corner_closes_the_diagonal_between_them",
         C + "test_a_diagonal_line_of_breaks_and_rock_holds_a_fire", "tests/test_fire.py",
         "tests/test_fire_fast.py::test_search_matches_scipy_dijkstra_fire_after_fire",
         "tests/test_fire_fast.py::test_bucket_queue_gives_the_heaps_fires_and_trees_value_for_value",
         "tests/test_fire_geometry.py::test_a_diagonal_passes_one_blocked_corner_but_not_two_touching_breaks",
         "tests/test_fire_geometry.py::test_a_diagonal_line_of_breaks_holds", M],
    ),  # fmt: skip
    "fire.trees": ("src/fuelbreak/fire/trees.py", ["tests/test_through_plan.py", M, "tests/test_objective.py"]),
    "fire.through_plan": (
        "src/fuelbreak/fire/through_plan.py",
        [C + "test_a_diagonal_line_of_breaks_and_rock_holds_a_fire", "tests/test_through_plan.py",
         "tests/test_objective.py", "tests/test_policy_batched.py"],
    ),  # fmt: skip
    "fire.montecarlo": (
        "src/fuelbreak/fire/montecarlo.py",
        [C + "test_evaluation_scores_the_known_best_plan_exactly_and_random_far_below", "tests/test_fire.py", M,
         "tests/test_objective.py", "tests/test_planning_windows.py::test_burned_counts_in_chunks_equal_the_dense_masks",
         "tests/test_planning_windows.py::test_a_fire_crossing_a_window_edge_burns_on_when_scored"],
    ),  # fmt: skip
    "env.simulation": (
        "src/fuelbreak/env/simulation.py",
        [C + "test_env_rewards_are_the_fall_in_mean_burned_area_of_a_direct_burn",
         C + "test_observation_fires_are_not_the_scoring_fires", "tests/test_env.py", M,
         "tests/test_objective.py::test_environment_rewards_the_value_saved_and_masks_excluded_cells"],
    ),  # fmt: skip
    "env.fuelbreak_env": (
        "src/fuelbreak/env/fuelbreak_env.py",
        [C + "test_env_rewards_are_the_fall_in_mean_burned_area_of_a_direct_burn",
         C + "test_observation_fires_are_not_the_scoring_fires", "tests/test_env.py", M,
         "tests/test_objective.py::test_environment_rewards_the_value_saved_and_masks_excluded_cells",
         "tests/test_planner_channels.py"],
    ),  # fmt: skip
    "env.observation": ("src/fuelbreak/env/observation.py", ["tests/test_planner_channels.py", "tests/test_env.py"]),
    "evaluation.tile": (
        "src/fuelbreak/evaluation/tile.py",
        [C + "test_evaluation_scores_the_known_best_plan_exactly_and_random_far_below",
         M, "tests/test_evaluation.py", "tests/test_objective.py"],
    ),  # fmt: skip
    "planning.windows": ("src/fuelbreak/planning/windows.py", ["tests/test_planning_windows.py"]),
    "baselines.common": ("src/fuelbreak/baselines/common.py", ["tests/test_baselines.py", "tests/test_objective.py"]),
    "agents.policy": (
        "src/fuelbreak/agents/policy.py",
        [C + "test_a_loaded_policy_plans_with_the_weights_in_its_file", "tests/test_policy.py",
         C + "test_the_shipped_policy_plans_better_than_random_on_held_out_tiles", M, "tests/test_search.py",
         "tests/test_objective.py", "tests/test_policy_batched.py", "tests/test_planner_channels.py"],
    ),  # fmt: skip
    "agents.checkpoint": (
        "src/fuelbreak/agents/checkpoint.py",
        [C + "test_a_loaded_policy_plans_with_the_weights_in_its_file", "tests/test_checkpoint.py", M,
         "tests/test_planner_channels.py", "tests/test_train.py::test_training_writes_the_run_and_picks_best_by_validation"],
    ),
    "agents.episode_replay": (
        "src/fuelbreak/agents/episode_replay.py",
        ["tests/test_episode_replay.py", "tests/test_resume_kill.py::test_a_replay_records_its_step_and_the_previous_one_stays_until_its_checkpoint",
         "tests/test_resume_kill.py::test_a_replay_of_another_step_is_a_clear_error"],
    ),  # fmt: skip
}

# Not mutated: removing a decorator (numba.njit, dataclass, property...) changes speed or fails
# at import; a bit-shift or bitwise operator where arithmetic was meant is killed by anything that
# runs the line, and only inflates the score.
EXCLUDED_OPERATORS = (
    r"core/RemoveDecorator",
    r"core/ReplaceBinaryOperator_.*_(RShift|LShift|BitOr|BitAnd|BitXor)$",
)


def cosmic_ray(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cosmic_ray.cli", *args], **kwargs)


def copy_repository(work: Path, tests_from: Path | None) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    shutil.copytree(ROOT / "src", work / "src", ignore=ignore)
    shutil.copytree(tests_from or ROOT / "tests", work / "tests", ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", work / "pyproject.toml")


def test_command(tests: list[str], work: Path) -> str:
    present = [t for t in tests if (work / t.split("::")[0]).is_file()]
    quoted = " ".join(f"'{t}'" for t in present)
    return (
        f"{sys.executable} -m pytest -x -q -p no:cacheprovider --no-header -o addopts= "
        f"-m 'not cluster and not reproduce' {quoted}"
    )


def write_config(path: Path, module: str, command: str, timeout: float) -> None:
    excluded = ", ".join(json.dumps(e) for e in EXCLUDED_OPERATORS)
    path.write_text(
        "[cosmic-ray]\n"
        f"module-path = {json.dumps(module)}\n"
        f"timeout = {timeout:.0f}.0\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(command)}\n"
        "[cosmic-ray.distributor]\n"
        'name = "local"\n'
        "[cosmic-ray.filters.operators-filter]\n"
        f"exclude-operators = [{excluded}]\n"
    )


def key_of(mutation) -> str:
    return f"{mutation.operator_name}#{mutation.occurrence}"


ANNOTATION = "in an annotation: never evaluated (from __future__ import annotations)"


def annotation_spans(path: Path) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) (line, column) of every annotation of a module (arguments, returns, variables)."""
    import ast

    spans = []
    for node in ast.walk(ast.parse(path.read_text())):
        notes = []
        if isinstance(node, ast.arg | ast.AnnAssign) and node.annotation is not None:
            notes.append(node.annotation)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns is not None:
            notes.append(node.returns)
        spans += [((a.lineno, a.col_offset), (a.end_lineno, a.end_col_offset)) for a in notes]
    return spans


def in_annotation(mutation, spans) -> bool:
    start = tuple(mutation.start_pos)
    return any(lo <= start < hi for lo, hi in spans)


def choose(db_path: Path, sample: int | None, seed: int, name: str, only: set[str] | None, work: Path) -> int:
    """Mark every pending mutant outside the sample (or outside `only`) as skipped; return how many
    were drawn. Drawn mutants inside annotations are not run either: they are equivalent (`ANNOTATION`)."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    with use_db(str(db_path), WorkDB.Mode.open) as db:
        pending = sorted(db.pending_work_items, key=lambda w: key_of(w.mutations[0]))
        keep = pending
        if only is not None:
            keep = [w for w in pending if key_of(w.mutations[0]) in only]
        elif sample is not None and sample < len(pending):
            keep = random.Random(f"{seed}:{name}").sample(pending, sample)
        chosen = {w.job_id for w in keep}
        skipped = [w.job_id for w in pending if w.job_id not in chosen]
        db.set_multiple_results(skipped, WorkResult(worker_outcome=WorkerOutcome.SKIPPED))
        spans = annotation_spans(work / MODULES[name][0])
        notes = [w.job_id for w in keep if in_annotation(w.mutations[0], spans)]
        db.set_multiple_results(notes, WorkResult(worker_outcome=WorkerOutcome.SKIPPED, output=ANNOTATION))
        return len(keep)


def changed_lines(diff: str) -> tuple[str, str]:
    minus = [ln[1:].strip() for ln in diff.splitlines() if ln.startswith("-") and not ln.startswith("---")]
    plus = [ln[1:].strip() for ln in diff.splitlines() if ln.startswith("+") and not ln.startswith("+++")]
    return " ".join(minus), " ".join(plus)


def load_equivalents() -> list[dict]:
    return json.loads(EQUIVALENTS.read_text()) if EQUIVALENTS.is_file() else []


def equivalent_reason(name: str, operator: str, diff: str, equivalents: list[dict]) -> str | None:
    before, after = changed_lines(diff)
    for e in equivalents:
        if e["module"] == name and e["operator"] == operator and e["line"] == before and e["mutant"] == after:
            return e["why"]
    return None


def collect(db_path: Path, name: str, equivalents: list[dict], work: Path) -> list[dict]:
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome

    out = []
    with use_db(str(db_path), WorkDB.Mode.open) as db:
        for item, result in db.completed_work_items:
            m = item.mutations[0]
            diff = result.diff or ""
            if result.worker_outcome == WorkerOutcome.SKIPPED:
                if result.output != ANNOTATION:
                    continue
                status, diff = "equivalent", mutant_diff(m, work)
            elif result.test_outcome == TestOutcome.KILLED:
                status = "killed"
            elif result.test_outcome == TestOutcome.SURVIVED:
                why = equivalent_reason(name, m.operator_name, diff, equivalents)
                status = "equivalent" if why else "survived"
            elif result.test_outcome == TestOutcome.INCOMPETENT:
                status = "incompetent"
            else:
                status = f"error ({result.worker_outcome})"
            before, after = changed_lines(diff)
            out.append({
                "module": name, "key": key_of(m), "operator": m.operator_name, "line_no": m.start_pos[0],
                "status": status, "line": before, "mutant": after,
            })  # fmt: skip
    return out


def mutant_diff(mutation, work: Path) -> str:
    """The diff of a mutant that was not run (cosmic-ray records diffs of the mutants it runs)."""
    import difflib

    import cosmic_ray.plugins
    from cosmic_ray.mutating import mutate_code

    operator = cosmic_ray.plugins.get_operator(mutation.operator_name)(**(mutation.operator_args or {}))
    before = (work / mutation.module_path).read_text()
    after = mutate_code(before, operator, mutation.occurrence)
    return "\n".join(difflib.unified_diff(before.splitlines(), (after or before).splitlines(), lineterm=""))


def restore(work: Path, module: str) -> None:
    """A run stopped in the middle leaves its mutant in place: put the module back."""
    original, copy = ROOT / module, work / module
    if copy.read_bytes() != original.read_bytes():
        shutil.copy2(original, copy)


def run_module(name, work, deadline, args, equivalents, only) -> tuple[list[dict], int, str]:
    module, tests = MODULES[name]
    command = test_command(tests, work)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(work / "src"), os.environ.get("PYTHONPATH", "")])}
    cfg, db = work / f"cr-{name}.toml", work / f"cr-{name}.sqlite"
    timeout = 300.0  # pytest-timeout's limit for one test
    if args.baseline:  # the tests must pass without a mutant, or every mutant would look killed
        t0 = time.monotonic()
        base = subprocess.run(command, shell=True, cwd=work, env=env, capture_output=True, text=True)
        if base.returncode != 0:
            return [], 0, f"the tests fail without any mutant: {base.stdout[-2000:]}"
        timeout = max(60.0, 4 * (time.monotonic() - t0))
    write_config(cfg, module, command, timeout)
    cosmic_ray("init", str(cfg), str(db), cwd=work, env=env, check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "cosmic_ray.tools.filters.operators_filter", str(db), str(cfg)],
                   cwd=work, env=env, check=True, capture_output=True)  # fmt: skip
    subprocess.run([sys.executable, "-m", "cosmic_ray.tools.filters.pragma_no_mutate", str(db)],
                   cwd=work, env=env, check=True, capture_output=True)  # fmt: skip
    n = choose(db, args.sample, args.seed, name, only, work)
    note = ""
    left = None if deadline is None else deadline - time.monotonic()
    if left is not None and left <= 0:
        return collect(db, name, equivalents, work), n, "not run: out of time"
    proc = subprocess.Popen([sys.executable, "-m", "cosmic_ray.cli", "exec", str(cfg), str(db)], cwd=work, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        proc.wait(timeout=left)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        note = "stopped by --max-minutes"
    restore(work, module)
    return collect(db, name, equivalents, work), n, note


def report(results: list[dict], counts: dict, notes: dict, args) -> tuple[str, float | None]:
    lines = ["| module | mutants run | killed | survived | equivalent | incompetent | score |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    pooled_k = pooled_d = 0
    for name in counts:
        rows = [r for r in results if r["module"] == name]
        k = sum(r["status"] == "killed" for r in rows)
        s = sum(r["status"] == "survived" for r in rows)
        e = sum(r["status"] == "equivalent" for r in rows)
        i = sum(r["status"] == "incompetent" for r in rows)
        pooled_k, pooled_d = pooled_k + k, pooled_d + k + s
        score = f"{100 * k / (k + s):.0f} %" if k + s else "-"
        note = f" ({notes[name]})" if notes.get(name) else ""
        lines.append(f"| {name}{note} | {len(rows)} of {counts[name]} | {k} | {s} | {e} | {i} | {score} |")
    pooled = pooled_k / pooled_d if pooled_d else None
    lines.append(f"| all | {len(results)} | {pooled_k} | {pooled_d - pooled_k} | | | "
                 f"{'-' if pooled is None else f'{100 * pooled:.0f} %'} |")  # fmt: skip
    survivors = [r for r in results if r["status"] in ("survived", "equivalent")]
    if survivors:
        lines += ["", "Survivors (`equivalent`: listed in scripts/mutation_equivalents.json):", ""]
        for r in survivors:
            lines.append(f"- {r['status']}: {r['module']} line {r['line_no']}, {r['key']}: "
                         f"`{r['line']}` -> `{r['mutant']}`")  # fmt: skip
    return "\n".join(lines) + "\n", pooled


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--modules", nargs="+", choices=sorted(MODULES), default=list(MODULES))
    p.add_argument("--sample", type=int, help="mutants drawn per module (default: all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample")
    p.add_argument("--max-minutes", type=float, help="stop the whole run after this many minutes")
    p.add_argument("--min-score", type=float, help="exit 1 when the pooled score is below this fraction")
    p.add_argument("--report", type=Path, help="write the markdown report here too")
    p.add_argument("--results", type=Path, help="write every mutant's outcome here (JSON)")
    p.add_argument("--only-survivors-of", type=Path, help="rerun only the survivors in this --results file")
    p.add_argument("--tests-from", type=Path, help="take the tests from this folder (e.g. an older checkout's)")
    p.add_argument("--no-baseline", dest="baseline", action="store_false",
                   help="skip the run without mutants (when the same tests have just passed)")  # fmt: skip
    p.add_argument("--keep", action="store_true", help="keep the working copy (its path is printed)")
    args = p.parse_args(argv)
    try:
        import cosmic_ray  # noqa: F401
    except ImportError:
        print("cosmic-ray is not installed: pip install -e '.[mutation]'", file=sys.stderr)
        return 2
    earlier = None
    if args.only_survivors_of:
        earlier = json.loads(args.only_survivors_of.read_text())
    deadline = None if args.max_minutes is None else time.monotonic() + 60 * args.max_minutes
    equivalents = load_equivalents()
    work = Path(tempfile.mkdtemp(prefix="fuelbreak-mutation-"))
    results, counts, notes = [], {}, {}
    try:
        copy_repository(work, args.tests_from)
        for name in args.modules:
            only, carried = None, []
            if earlier is not None:  # the earlier outcomes stand, but for its survivors, run again
                mine = [r for r in earlier if r["module"] == name]
                for r in mine:
                    if r["status"] == "survived" and equivalent_reason(
                        name, r["operator"], f"-{r['line']}\n+{r['mutant']}", equivalents
                    ):
                        r = {**r, "status": "equivalent"}
                    carried.append(r)
                only = {r["key"] for r in carried if r["status"] == "survived"}
                carried = [r for r in carried if r["key"] not in only]
                if not mine:
                    continue
                if not only:
                    results += carried
                    counts[name], notes[name] = len(mine), ""
                    continue
            rows, n, note = run_module(name, work, deadline, args, equivalents, only)
            results += carried + rows
            counts[name], notes[name] = (n if earlier is None else len(carried) + n), note
            print(f"{name}: {len(rows)} of {n} mutants run {note}".rstrip(), file=sys.stderr, flush=True)
    finally:
        if args.keep:
            print(f"working copy: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    text, pooled = report(results, counts, notes, args)
    print(text)
    if args.report:
        args.report.write_text(text)
    if args.results:
        args.results.write_text(json.dumps(results, indent=1) + "\n")
    if args.min_score is not None and (pooled is None or pooled < args.min_score):
        print(f"mutation score {pooled} is below --min-score {args.min_score}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
