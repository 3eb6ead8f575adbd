"""Benchmark: the contract validator against the streaming-scan floor and Great Expectations.

One run builds an episodes table (the demo contract's columns, defects injected at 1e-4) at 1M and
10M rows, then times, each in a fresh interpreter so peak RSS is per method:

* floor      - a plain streaming pyarrow scan (``iter_batches``) of the same columns, nothing computed;
* validator  - ``hdc_toolkit.contracts.validate`` (default: footer statistics on);
* validator-nostats - the same without footer statistics (every row group read);
* gx         - GX 1.x on pandas with the suite compiled from the same contract (``--gx``, default on).

Figures: median work time (measured in the child once its libraries are imported, as in a long-running
gate service: the validator's includes loading the contract; GX's includes reading the table into
pandas) of ``--repeat`` runs (GX: one run), the child's
peak RSS, the ratio to the floor and GX's ratio to the validator. Usage: ``python benchmarks/contract_validation.py [--rows 1000000 10000000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT / "data_contracts" / "episodes.odcs.yaml"
DEPARTMENTS = ["MED", "SUR", "ORT", "CAR", "NEU", "ONC", "PED", "OBS", "PSY", "GER", "EMR", "REH"]


def build_table(path: Path, rows: int, seed: int = 7) -> dict:
    """Write an episodes table of ``rows`` rows in 1M-row files (row groups of 256k)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    path.mkdir(parents=True, exist_ok=True)
    chunk = 1_000_000
    defects = 0
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        ids = np.arange(start, start + n, dtype=np.int64)
        people = rng.integers(10**10, 10**10 + max(rows // 10, 1), size=n)  # ~10 episodes per patient
        nid_num = people.astype("S11")
        offsets = np.arange(0, (n + 1) * 11, 11, dtype=np.int32)
        national_id = pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(nid_num.tobytes())])
        adm = rng.integers(946684800_000, 1798675199_000 - 30 * 86400_000, size=n)
        dis = adm + rng.integers(0, 20 * 86400_000, size=n)
        bad = rng.random(n) < 1e-4  # swapped dates
        adm2, dis2 = np.where(bad, dis, adm), np.where(bad, adm, dis)
        defects += int((bad & (dis != adm)).sum())
        dept = np.array(DEPARTMENTS)[rng.integers(0, len(DEPARTMENTS), size=n)]
        table = pa.table(
            {
                "episode_id": ids,
                "national_id": national_id,
                "admission_time": pa.array(adm2, pa.timestamp("ms")),
                "discharge_time": pa.array(dis2, pa.timestamp("ms")),
                "department": pa.array(dept),
                "care_type": pa.array(np.array(["inpatient", "outpatient", "day"])[rng.integers(0, 3, size=n)]),
                "urgency": pa.array(np.array(["elective", "emergency"])[rng.integers(0, 2, size=n)]),
            }
        )
        pq.write_table(table, path / f"part-{start // chunk:05d}.parquet", row_group_size=262_144)
    # the parent table for the national_id foreign key: every id that occurs
    pat = pq.read_table(path, columns=["national_id"]).column(0)
    import pyarrow.compute as pc

    parent = path.parent / "patients"
    parent.mkdir(exist_ok=True)
    pq.write_table(pa.table({"national_id": pc.unique(pat)}), parent / "part-00000.parquet")
    return {"rows": rows, "swapped_dates": defects}


# -- the methods, each run in a child interpreter ------------------------------------------------------


def method_floor(data: str) -> dict:
    import pyarrow.parquet as pq
    import yaml

    cols = [p["name"] for p in yaml.safe_load(CONTRACT.read_text())["schema"][0]["properties"]]
    rows = 0
    for f in sorted(Path(data).glob("*.parquet")):
        for batch in pq.ParquetFile(f).iter_batches(columns=cols, batch_size=262_144):
            rows += batch.num_rows
    return {"rows": rows}


def method_validator(data: str, statistics_on: bool = True) -> dict:
    from hdc_toolkit.contracts import load_contract
    from hdc_toolkit.contracts.validate import validate

    run = validate(load_contract(CONTRACT), data, use_statistics=statistics_on)
    return {c.key: c.failing_count for c in run.checks if c.failing_count}


def method_gx(data: str) -> dict:
    import great_expectations as gx
    import pyarrow.parquet as pq

    from hdc_toolkit.contracts import load_contract
    from hdc_toolkit.contracts.export_gx import build_gx_suite

    contract = load_contract(CONTRACT)
    df = pq.read_table(data).to_pandas()
    ctx = gx.get_context(mode="ephemeral")
    batch = ctx.data_sources.add_pandas("bench").add_dataframe_asset(name="episodes").add_batch_definition_whole_dataframe("all")
    suite = ctx.suites.add(build_gx_suite(contract))
    vd = ctx.validation_definitions.add(gx.ValidationDefinition(name="bench", data=batch, suite=suite))
    from hdc_toolkit.contracts.export_gx import SAFE_RESULT_FORMAT

    res = vd.run(batch_parameters={"dataframe": df}, result_format=SAFE_RESULT_FORMAT)
    out = {}
    for r in res.results:
        count = r.result.get("unexpected_count")
        if count:
            out[r.expectation_config.meta.get("check_key", r.expectation_config.type)] = count
    return out


def method_build(data: str, rows: str) -> dict:
    return build_table(Path(data), int(rows))


METHODS = {
    "floor": lambda d: method_floor(d),
    "validator": lambda d: method_validator(d, True),
    "validator-nostats": lambda d: method_validator(d, False),
    "gx": lambda d: method_gx(d),
}


def run_child(method: str, data: Path, *extra: str) -> tuple[float, float, dict]:
    """Run one method in a fresh interpreter; return (work s, peak RSS MiB, its output).

    The work time is measured inside the child after ``import pyarrow`` (interpreter start-up is
    the same for every method and not what is compared); the parent stays small, so the child's
    peak RSS is its own.
    """
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        proc = subprocess.Popen([sys.executable, __file__, "--child", method, str(data), out.name, *extra])
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"{method} failed with exit code {proc.returncode}")
        result = json.loads(Path(out.name).read_text())
        return result.pop("_seconds"), usage.ru_maxrss / 1024, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-gx", action="store_true", help="skip Great Expectations")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        method, data, out, *extra = args.child
        import pyarrow.parquet  # noqa: F401 - every method needs it; not part of the timed work

        if method.startswith("validator") or method == "gx":  # libraries imported before timing (a warm process)
            import pandas  # noqa: F401 - pyarrow imports it on the first scalar it builds

            import hdc_toolkit.contracts.validate  # noqa: F401
            from hdc_toolkit.contracts import load_contract

            load_contract(ROOT / "data_contracts" / "patients.odcs.yaml")  # imports jsonschema and the ODCS model
        if method == "gx":
            import great_expectations  # noqa: F401

        t0 = time.perf_counter()
        result = method_build(data, *extra) if method == "build" else METHODS[method](data)
        result["_seconds"] = time.perf_counter() - t0
        Path(out).write_text(json.dumps(result, default=str))
        return
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
    summary = []
    with tempfile.TemporaryDirectory(prefix="hdc-bench-") as tmp:
        for rows in args.rows:
            data = Path(tmp) / f"r{rows}" / "episodes"
            built, _, truth = run_child("build", data, str(rows))
            print(f"\n== {rows:,} rows (built in {built:.1f} s; {truth['swapped_dates']} swapped dates injected)")
            methods = ["floor", "validator", "validator-nostats"] + ([] if args.no_gx else ["gx"])
            res: dict[str, dict] = {}
            for m in methods:
                reps = 1 if m == "gx" else args.repeat
                walls, rss, out = [], [], {}
                for _ in range(reps):
                    w, r, out = run_child(m, data)
                    walls.append(w)
                    rss.append(r)
                res[m] = {"wall": statistics.median(walls), "min": min(walls), "rss": max(rss), "out": out}
            floor = res["floor"]["wall"]
            print(f"{'method':<20}{'work s (median)':>16}{'min s':>8}{'peak RSS MiB':>14}{'x floor':>9}")
            for m, r in res.items():
                print(f"{m:<20}{r['wall']:>16.2f}{r['min']:>8.2f}{r['rss']:>14.0f}{r['wall'] / floor:>9.2f}")
            v = res["validator"]["out"]
            print(f"validator failing counts: {v}")
            assert v.get("episodes.rule.discharge_not_before_admission") == truth["swapped_dates"], "validator missed defects"
            if "gx" in res:
                g = res["gx"]["out"]
                print(f"gx failing counts:        {g}")
                agree = all(g.get(k) == n for k, n in v.items() if k in g)
                print(f"GX / validator wall: {res['gx']['wall'] / res['validator']['wall']:.1f}x; counts agree: {agree}")
            summary.append((rows, res))
    if len(summary) >= 2:
        (r1, a), (r2, b) = summary[0], summary[-1]
        print(f"\npeak RSS validator {r1:,} rows: {a['validator']['rss']:.0f} MiB; {r2:,} rows: {b['validator']['rss']:.0f} MiB "
              f"(x{b['validator']['rss'] / a['validator']['rss']:.2f} for x{r2 / r1:.0f} rows)")  # fmt: skip


if __name__ == "__main__":
    main()
