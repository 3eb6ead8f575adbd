"""Benchmark: one epidemiological question on the toolkit (Dask) against pandas, DuckDB and polars.

The question: **incidence of type 2 diabetes (ICD-10 E11) by 10-year age band, sex and calendar year,
2016-2025**, on a demo source extract. It joins three tables:

* ``diagnoses`` - rows with an E11 code (the filter is pushed into the Parquet read where the engine can);
* ``episodes``  - the admission day of those diagnoses' episodes (the index date is the first E11
  admission ever, so 2012-2015 act as wash-out: earlier cases are prevalent and excluded);
* ``patients``  - birth date, sex and death date of *everyone*: the person-time denominators, split
  exactly at 1 January and at birthdays (a Lexis split), ending at the index date, death or 2025-12-31.

Every engine answers with the same table (year, age band, sex, events, person-years) and the benchmark
checks that they agree exactly (events) and to 1e-6 person-years. Engines:

* ``toolkit`` - ``hdc_toolkit.analysis`` on a local **TLS** Dask cluster (``connect()``; its start-up
  is reported apart): ``read_parquet_table`` (the reader behind ``open_table``; no permit here, the
  extract is not a project release) with the E11 filter evaluated on dictionary codes at read time,
  a broadcast semi-join of the E11 rows into episodes, ``select_cohort``, ``incidence``;
* ``pandas`` - plain pandas as a competent analyst writes it (``pd.read_parquet`` with column
  selection, ``str.startswith``, ``merge``, a per-year loop with vectorised datetime arithmetic);
* ``duckdb`` - one SQL query over ``read_parquet`` (Lexis split with ``range`` and ``UNION ALL``);
* ``duckdb-grouped`` - the same query, but people with identical follow-up (sex, birth, entry, exit)
  are split once with a count: the algorithmic shortcut the toolkit takes, given to DuckDB too, so
  that the table separates engine speed from algorithm;
* ``polars`` - the same plan in the lazy API, collected with the streaming engine.

Each engine runs in its own interpreter, started once per extract (peak RSS of its whole process tree,
Dask workers included, is measured from outside). After one warm-up run each, the engines take turns:
``--repeat`` rounds, the order rotating every round, so that the load of a shared machine falls on all
of them alike; the table shows the median of the timed runs (pandas: ``--pandas-repeat`` runs).
Memory: on the 100M extract (``--memory``, default 1 GiB), the Dask workers get that memory
limit, DuckDB gets ``SET memory_limit``; pandas and polars have no limit of their own, so a watchdog
stops them when their process tree exceeds the limit plus 512 MiB (the same allowance the toolkit's
client process has beside its workers). ``pandas (no limit)`` runs once more without it, to measure
its speed. A hard ceiling (``--ceiling``) protects the shared machine in every run.

Usage::

    python benchmarks/analysis.py --data-dir /tmp/hdc-bench-analysis            # 20M and 100M rows
    python benchmarks/analysis.py --sizes 20m --repeat 3 --json results.json

Extracts are generated once (``hdc_toolkit.demo.generate_extract``, seed 42) into ``--data-dir``.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Patients per extract size (the generator writes about 22.2 rows per patient over five tables).
SIZES = {"1m": 45_000, "20m": 890_000, "100m": 4_450_000}
START, END = "2016-01-01", "2025-12-31"
YEARS = range(2016, 2026)
EDGES = (0, 20, 30, 40, 50, 60, 70, 80)
LABELS = ["0-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80+"]
ENGINES = ("toolkit", "duckdb", "duckdb-grouped", "polars", "pandas")


# -- the question, once per engine -------------------------------------------------------------------


def q_toolkit(data: Path, ctx: dict) -> object:
    from hdc_toolkit.analysis import (
        broadcast_merge,
        code_filter,
        incidence,
        read_parquet_table,
        select_cohort,
    )

    e11 = read_parquet_table(
        data / "diagnoses", ["national_id", "episode_id"], code_filter("icd10_code", "E11")
    )
    episodes = read_parquet_table(data / "episodes", ["episode_id", "admission_time"])
    events = broadcast_merge(episodes, e11, on="episode_id")
    cohort = select_cohort(events, date="admission_time", person="national_id")
    patients = read_parquet_table(
        data / "patients", ["national_id", "birth_date", "sex", "death_date"], categories=["sex"]
    )
    table = incidence(patients, cohort, start=START, end=END, by=("year", "age_band", "sex"),
                      age_bands=EDGES, person="national_id")  # fmt: skip
    return table[["year", "age_band", "sex", "events", "person_years"]]


def q_pandas(data: Path, ctx: dict) -> object:
    import numpy as np
    import pandas as pd

    s, e1 = pd.Timestamp(START), pd.Timestamp(END) + pd.Timedelta(days=1)
    dx = pd.read_parquet(data / "diagnoses", columns=["national_id", "episode_id", "icd10_code"])
    dx = dx[dx["icd10_code"].str.startswith("E11")]
    ep = pd.read_parquet(data / "episodes", columns=["episode_id", "admission_time"])
    ev = dx.merge(ep, on="episode_id")
    idx = ev.groupby("national_id")["admission_time"].min().dt.normalize().rename("idx")
    p = pd.read_parquet(data / "patients", columns=["national_id", "birth_date", "sex", "death_date"])
    p = p.join(idx, on="national_id")
    p["birth_date"] = pd.to_datetime(p["birth_date"])
    p["death_date"] = pd.to_datetime(p["death_date"])
    p = p[p["idx"].isna() | (p["idx"] >= s)]
    p = p.assign(entry=p["birth_date"].clip(lower=s),
                 exit=np.minimum(p["death_date"].fillna(e1), p["idx"].fillna(e1)).clip(upper=e1))  # fmt: skip
    p = p[p["exit"] >= p["entry"]]

    def age(at: pd.Series, born: pd.Series) -> pd.Series:
        before = (at.dt.month < born.dt.month) | ((at.dt.month == born.dt.month) & (at.dt.day < born.dt.day))
        return at.dt.year - born.dt.year - before.astype(int)

    ev = p[p["idx"].notna() & (p["idx"] == p["exit"])]
    events = pd.DataFrame({"year": ev["idx"].dt.year, "age": age(ev["idx"], ev["birth_date"]),
                           "sex": ev["sex"], "events": 1, "days": 0.0})  # fmt: skip
    pieces = [events]
    for y in YEARS:
        y0, y1 = pd.Timestamp(y, 1, 1), pd.Timestamp(y + 1, 1, 1)
        q = p[(p["entry"] < y1) & (p["exit"] > y0)]
        qb = q["birth_date"]
        lo, hi = q["entry"].clip(lower=y0), q["exit"].clip(upper=y1)
        bday = pd.to_datetime(pd.DataFrame({"year": y, "month": qb.dt.month, "day": 1})) + pd.to_timedelta(
            qb.dt.day - 1, unit="D"
        )
        before = (np.minimum(hi, bday) - lo).dt.days.clip(lower=0)
        after = (hi - np.maximum(lo, bday)).dt.days.clip(lower=0)
        a0 = y - qb.dt.year - 1
        pieces.append(pd.DataFrame({"year": y, "age": a0, "sex": q["sex"], "events": 0, "days": before}))
        pieces.append(pd.DataFrame({"year": y, "age": a0 + 1, "sex": q["sex"], "events": 0, "days": after}))
    u = pd.concat(pieces, ignore_index=True)
    u["age_band"] = pd.cut(u["age"], [*EDGES, 10_000], right=False, labels=LABELS)
    out = u.groupby(["year", "age_band", "sex"], observed=True)[["events", "days"]].sum().reset_index()
    out["person_years"] = out.pop("days") / 365.25
    return out


DUCKDB_SQL = """
WITH cases AS (
  SELECT d.national_id AS pid, min(CAST(e.admission_time AS DATE)) AS idx
  FROM read_parquet('{d}/diagnoses/*.parquet') d
  JOIN read_parquet('{d}/episodes/*.parquet') e USING (episode_id)
  WHERE starts_with(d.icd10_code, 'E11')
  GROUP BY 1),
f AS (
  SELECT p.sex, p.birth_date AS b, c.idx,
         greatest(p.birth_date, DATE '{s}') AS entry,
         least(DATE '{e1}', coalesce(p.death_date, DATE '{e1}'), coalesce(c.idx, DATE '{e1}')) AS exit
  FROM read_parquet('{d}/patients/*.parquet') p LEFT JOIN cases c ON p.national_id = c.pid
  WHERE c.idx IS NULL OR c.idx >= DATE '{s}'),
g AS (SELECT * FROM f WHERE exit >= entry),
ev AS (
  SELECT year(idx) AS y, year(idx) - year(b) - CASE WHEN month(idx) < month(b)
           OR (month(idx) = month(b) AND day(idx) < day(b)) THEN 1 ELSE 0 END AS age, sex,
         count(*) AS events, 0.0 AS days
  FROM g WHERE idx IS NOT NULL AND idx = exit GROUP BY ALL),
seg AS (
  SELECT y, sex, b, greatest(entry, make_date(y, 1, 1)) AS lo, least(exit, make_date(y + 1, 1, 1)) AS hi,
         CAST(make_date(y, month(b), 1) + to_days(day(b) - 1) AS DATE) AS bd
  FROM g, range({y0}, {y1}) t(y)
  WHERE entry < make_date(y + 1, 1, 1) AND exit > make_date(y, 1, 1)),
pt AS (
  SELECT y, y - year(b) - 1 AS age, sex, 0 AS events, greatest(0, least(hi, bd) - lo) AS days FROM seg
  UNION ALL
  SELECT y, y - year(b) AS age, sex, 0 AS events, greatest(0, hi - greatest(lo, bd)) AS days FROM seg),
u AS (SELECT * FROM ev UNION ALL SELECT * FROM pt)
SELECT y AS year, CASE WHEN age < 20 THEN 0 WHEN age >= 80 THEN 7 ELSE age // 10 - 1 END AS band, sex,
       sum(events)::BIGINT AS events, sum(days) / 365.25 AS person_years
FROM u GROUP BY ALL ORDER BY ALL
"""

#: The same, but people with the same (sex, birth, entry, exit) are split once, with a count: the
#: collapse the toolkit does (most people are followed through the whole window).
DUCKDB_GROUPED_SQL = """
WITH cases AS (
  SELECT d.national_id AS pid, min(CAST(e.admission_time AS DATE)) AS idx
  FROM read_parquet('{d}/diagnoses/*.parquet') d
  JOIN read_parquet('{d}/episodes/*.parquet') e USING (episode_id)
  WHERE starts_with(d.icd10_code, 'E11')
  GROUP BY 1),
f AS (
  SELECT p.sex, p.birth_date AS b, c.idx,
         greatest(p.birth_date, DATE '{s}') AS entry,
         least(DATE '{e1}', coalesce(p.death_date, DATE '{e1}'), coalesce(c.idx, DATE '{e1}')) AS exit
  FROM read_parquet('{d}/patients/*.parquet') p LEFT JOIN cases c ON p.national_id = c.pid
  WHERE c.idx IS NULL OR c.idx >= DATE '{s}'),
g AS (SELECT * FROM f WHERE exit >= entry),
w AS (SELECT sex, b, entry, exit, count(*) AS n FROM g GROUP BY ALL),
ev AS (
  SELECT year(idx) AS y, year(idx) - year(b) - CASE WHEN month(idx) < month(b)
           OR (month(idx) = month(b) AND day(idx) < day(b)) THEN 1 ELSE 0 END AS age, sex,
         count(*) AS events, 0.0 AS days
  FROM g WHERE idx IS NOT NULL AND idx = exit GROUP BY ALL),
seg AS (
  SELECT y, sex, b, n, greatest(entry, make_date(y, 1, 1)) AS lo, least(exit, make_date(y + 1, 1, 1)) AS hi,
         CAST(make_date(y, month(b), 1) + to_days(day(b) - 1) AS DATE) AS bd
  FROM w, range({y0}, {y1}) t(y)
  WHERE entry < make_date(y + 1, 1, 1) AND exit > make_date(y, 1, 1)),
pt AS (
  SELECT y, y - year(b) - 1 AS age, sex, 0 AS events, n * greatest(0, least(hi, bd) - lo) AS days FROM seg
  UNION ALL
  SELECT y, y - year(b) AS age, sex, 0 AS events, n * greatest(0, hi - greatest(lo, bd)) AS days FROM seg),
u AS (SELECT * FROM ev UNION ALL SELECT * FROM pt)
SELECT y AS year, CASE WHEN age < 20 THEN 0 WHEN age >= 80 THEN 7 ELSE age // 10 - 1 END AS band, sex,
       sum(events)::BIGINT AS events, sum(days) / 365.25 AS person_years
FROM u GROUP BY ALL ORDER BY ALL
"""


def q_duckdb(data: Path, ctx: dict, sql_template: str = DUCKDB_SQL) -> object:
    import duckdb
    import pandas as pd

    con = ctx.get("con")
    if con is None:
        con = ctx["con"] = duckdb.connect()
        con.execute(f"SET threads = {ctx['cpus']}")
        if ctx.get("memory"):  # DuckDB spills to disk beyond it
            con.execute(f"SET memory_limit = '{ctx['memory'] // 2**20}MiB'")
            con.execute(f"SET temp_directory = '{tempfile.mkdtemp(prefix='hdc-bench-duckdb-')}'")
    e1 = (pd.Timestamp(END) + pd.Timedelta(days=1)).date()
    sql = sql_template.format(d=data, s=START, e1=e1, y0=YEARS.start, y1=YEARS.stop)
    out = con.execute(sql).df()
    out["age_band"] = pd.Categorical.from_codes(out.pop("band"), categories=LABELS, ordered=True)
    return out


def q_polars(data: Path, ctx: dict) -> object:
    import datetime as dt

    import polars as pl

    s = dt.date.fromisoformat(START)
    e1 = dt.date.fromisoformat(END) + dt.timedelta(days=1)
    dx = (pl.scan_parquet(f"{data}/diagnoses/*.parquet")
          .filter(pl.col("icd10_code").str.starts_with("E11")).select("national_id", "episode_id"))  # fmt: skip
    ep = pl.scan_parquet(f"{data}/episodes/*.parquet").select("episode_id", "admission_time")
    cases = (
        dx.join(ep, on="episode_id").group_by("national_id").agg(idx=pl.col("admission_time").min().dt.date())
    )
    pat = pl.scan_parquet(f"{data}/patients/*.parquet").select(
        "national_id", "birth_date", "sex", "death_date"
    )
    f = (
        pat.join(cases, on="national_id", how="left")
        .filter(pl.col("idx").is_null() | (pl.col("idx") >= s))
        .with_columns(
            entry=pl.max_horizontal(pl.col("birth_date"), pl.lit(s)),
            exit=pl.min_horizontal(
                pl.col("death_date").fill_null(e1), pl.col("idx").fill_null(e1), pl.lit(e1)
            ),
        )
        .filter(pl.col("exit") >= pl.col("entry"))
    )
    b = pl.col("birth_date")

    def age(at: pl.Expr) -> pl.Expr:
        before = (at.dt.month() < b.dt.month()) | (
            (at.dt.month() == b.dt.month()) & (at.dt.day() < b.dt.day())
        )
        return at.dt.year().cast(pl.Int64) - b.dt.year().cast(pl.Int64) - before.cast(pl.Int64)

    events = f.filter(pl.col("idx").is_not_null() & (pl.col("idx") == pl.col("exit"))).select(
        year=pl.col("idx").dt.year().cast(pl.Int64), age=age(pl.col("idx")), sex=pl.col("sex"),
        events=pl.lit(1, pl.Int64), days=pl.lit(0, pl.Int64),
    )  # fmt: skip
    y = pl.col("y")
    seg = (
        f.join(pl.LazyFrame({"y": list(YEARS)}, schema={"y": pl.Int32}), how="cross")
        .with_columns(y0=pl.date(y, 1, 1), y1=pl.date(y + 1, 1, 1))
        .filter((pl.col("entry") < pl.col("y1")) & (pl.col("exit") > pl.col("y0")))
        .with_columns(
            lo=pl.max_horizontal("entry", "y0"),
            hi=pl.min_horizontal("exit", "y1"),
            bd=pl.date(y, b.dt.month(), 1) + pl.duration(days=b.dt.day().cast(pl.Int64) - 1),
            a0=y.cast(pl.Int64) - b.dt.year().cast(pl.Int64) - 1,
        )
    )
    before = (pl.min_horizontal("hi", "bd") - pl.col("lo")).dt.total_days().clip(lower_bound=0)
    after = (pl.col("hi") - pl.max_horizontal("lo", "bd")).dt.total_days().clip(lower_bound=0)
    pt = pl.concat([
        seg.select(year=y.cast(pl.Int64), age=pl.col("a0"), sex=pl.col("sex"), events=pl.lit(0, pl.Int64), days=before),
        seg.select(year=y.cast(pl.Int64), age=pl.col("a0") + 1, sex=pl.col("sex"), events=pl.lit(0, pl.Int64), days=after),
    ])  # fmt: skip
    band = (pl.when(pl.col("age") < 20).then(0).when(pl.col("age") >= 80).then(7)
            .otherwise(pl.col("age") // 10 - 1))  # fmt: skip
    plan = (
        pl.concat([events, pt])
        .with_columns(band=band)
        .group_by("year", "band", "sex")
        .agg(events=pl.col("events").sum(), person_years=pl.col("days").sum() / 365.25)
        .sort("year", "band", "sex")
    )
    try:
        out = plan.collect(engine="streaming").to_pandas()
    except (TypeError, ValueError):
        out = plan.collect().to_pandas()
    import pandas as pd

    out["age_band"] = pd.Categorical.from_codes(out.pop("band"), categories=LABELS, ordered=True)
    return out


def q_duckdb_grouped(data: Path, ctx: dict) -> object:
    return q_duckdb(data, ctx, DUCKDB_GROUPED_SQL)


QUESTIONS = {
    "toolkit": q_toolkit,
    "pandas": q_pandas,
    "duckdb": q_duckdb,
    "duckdb-grouped": q_duckdb_grouped,
    "polars": q_polars,
}


# -- a child interpreter serves one engine ----------------------------------------------------------


def serve(engine: str, data: Path, memory: int | None) -> None:
    """Child: set up, then answer ``run`` / ``table PATH`` / ``quit`` lines on stdin (one JSON line each)."""
    import pandas as pd

    ctx: dict = {"memory": memory, "cpus": _cpus()}
    hello: dict = {"setup_s": 0.0}
    if engine == "toolkit":
        from hdc_toolkit.analysis import connect

        t0 = time.perf_counter()
        client = connect(memory_limit=memory)
        hello["setup_s"] = time.perf_counter() - t0
        info = client.scheduler_info(n_workers=-1)["workers"].values()
        hello["cluster"] = {
            "address": client.scheduler.address,
            "workers": len(info),
            "threads": sum(w["nthreads"] for w in info),
            "memory_limit_per_worker": next(w["memory_limit"] for w in info),
        }
    print(json.dumps(hello), flush=True)
    table = None
    for line in sys.stdin:
        command, _, arg = line.strip().partition(" ")
        if command == "run":
            t0 = time.perf_counter()
            table = QUESTIONS[engine](data, ctx)
            print(json.dumps({"t": time.perf_counter() - t0}), flush=True)
        elif command == "table":
            frame = pd.DataFrame(table)
            frame["age_band"] = frame["age_band"].astype(str)
            frame["sex"] = frame["sex"].astype(str)
            cols = ["year", "age_band", "sex", "events", "person_years"]
            Path(arg).write_bytes(pickle.dumps(frame[cols].to_dict("list")))
            print(json.dumps({"ok": True}), flush=True)
        else:
            break
    if engine == "toolkit":
        from hdc_toolkit.analysis import close

        close()


def _cpus() -> int:
    from hdc_toolkit.analysis.cluster import resources

    return max(1, int(resources().cpus))


def _tree_rss(proc: object) -> int:
    import psutil

    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]  # type: ignore[attr-defined]
    except psutil.Error:
        return 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def _kill_tree(proc: object) -> None:
    import psutil

    try:
        procs = [*proc.children(recursive=True), proc]  # type: ignore[attr-defined]
    except psutil.Error:
        return
    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass


class Engine:
    """A child interpreter serving one engine, watched for memory (its whole process tree) and time."""

    def __init__(
        self, label: str, engine: str, data: Path, memory: int | None, kill_at: int, timeout: float
    ) -> None:
        import psutil

        self.label, self.engine, self.kill_at, self.timeout = label, engine, kill_at, timeout
        self.runs: list[float] = []
        self.peak = 0
        self.error: str | None = None
        self.info: dict = {}
        self.log = tempfile.NamedTemporaryFile(prefix=f"hdc-bench-{engine}-", suffix=".log", delete=False)  # noqa: SIM115
        cmd = [sys.executable, __file__, "--serve", engine, "--data", str(data)]
        cmd += ["--memory", str(memory)] if memory else []
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                     text=True, start_new_session=True)  # fmt: skip
        self.watch = psutil.Process(self.proc.pid)
        self._deadline: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watchdog, daemon=True)
        self._thread.start()
        self.info = self._answer(self.timeout) or {}

    def _watchdog(self) -> None:
        while not self._stop.is_set() and self.proc.poll() is None:
            rss = _tree_rss(self.watch)
            self.peak = max(self.peak, rss)
            reason = None
            if rss > self.kill_at:
                reason = f"stopped: memory {rss / 2**30:.2f} GiB > {self.kill_at / 2**30:.2f} GiB"
            elif self._deadline is not None and time.perf_counter() > self._deadline:
                reason = f"stopped: a run took over {self.timeout:.0f} s"
            if reason:
                self.error = reason
                _kill_tree(self.watch)
                return
            time.sleep(0.05)

    def _answer(self, timeout: float) -> dict | None:
        self._deadline = time.perf_counter() + timeout
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        self._deadline = None
        if not line:
            self.proc.wait()
            if self.error is None:
                tail = Path(self.log.name).read_text(errors="replace").strip().splitlines()[-3:]
                self.error = f"failed (exit {self.proc.returncode}): {' | '.join(tail)}"
            return None
        return json.loads(line)

    def run(self) -> float | None:
        if self.error:
            return None
        assert self.proc.stdin is not None
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        answer = self._answer(self.timeout)
        if answer is None:
            return None
        self.runs.append(answer["t"])
        return answer["t"]

    def table(self) -> dict | None:
        if self.error or not self.runs:
            return None
        path = Path(tempfile.mkdtemp(prefix="hdc-bench-")) / "table.pickle"
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"table {path}\n")
        self.proc.stdin.flush()
        return pickle.loads(path.read_bytes()) if self._answer(self.timeout) else None

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                _kill_tree(self.watch)
        self._stop.set()


# -- the parent -------------------------------------------------------------------------------------


def ensure_extract(data_dir: Path, size: str) -> tuple[Path, int]:
    import pyarrow.parquet as pq

    path = data_dir / f"demo-{size}"
    if not (path / "patients").is_dir():
        from hdc_toolkit.demo import generate_extract

        print(f"generating the {size} extract ({SIZES[size]:,} patients) in {path} ...", flush=True)
        summary = generate_extract(path, patients=SIZES[size], seed=42, force=True)
        print(f"  {summary.total_rows:,} rows in {summary.seconds:.0f} s", flush=True)
    rows = sum(pq.read_metadata(f).num_rows for f in path.glob("*/*.parquet"))
    return path, rows


def _uncompressed(path: Path) -> int:
    import pyarrow.parquet as pq

    total = 0
    for f in path.glob("*/*.parquet"):
        meta = pq.read_metadata(f)
        total += sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    return total


def agrees(reference: dict, other: dict) -> str:
    import pandas as pd

    a, b = pd.DataFrame(reference), pd.DataFrame(other)
    keys = ["year", "age_band", "sex"]
    m = a.merge(b, on=keys, how="outer", suffixes=("", "_o"), indicator=True)
    if (m["_merge"] != "both").any():
        return f"cells differ ({int((m['_merge'] != 'both').sum())})"
    ev = int((m["events"] - m["events_o"]).abs().max())
    py = float((m["person_years"] - m["person_years_o"]).abs().max())
    return "same" if ev == 0 and py < 1e-6 else f"differs (events {ev}, person-years {py:.3g})"


def bench_size(size: str, args: argparse.Namespace, memory: int | None, ceiling: int) -> list[dict]:
    """All engines on one extract: set up, warm up, then ``repeat`` rounds, the order rotating."""
    from dask.utils import format_bytes

    path, rows = ensure_extract(args.data_dir, size)
    disk = sum(f.stat().st_size for f in path.glob("*/*.parquet"))
    raw = _uncompressed(path)
    cap = memory if SIZES[size] >= SIZES["100m"] else None
    print(f"\n{size}: {rows:,} rows, {format_bytes(disk)} Parquet, {format_bytes(raw)} uncompressed"
          + (f"; memory limit {format_bytes(cap)}" if cap else ""), flush=True)  # fmt: skip
    plan: list[tuple[str, str, int | None]] = []
    for engine in args.engines:
        plan.append((engine, engine, cap))
        if engine == "pandas" and cap and not args.no_uncapped_pandas:
            plan.append(("pandas (no limit)", "pandas", None))
    engines: list[Engine] = []
    for label, engine, c in plan:
        kill_at = min(ceiling, c + 512 * 2**20) if c and engine in ("pandas", "polars") else ceiling
        e = Engine(label, engine, path, c, kill_at, args.timeout)
        e.memory_limit = c  # type: ignore[attr-defined]
        e.run()  # warm-up: imports, the cluster's first tasks, the page cache
        print(
            f"  {label:18s} " + (f"ready, warm-up {e.runs[0]:.2f} s" if e.runs else str(e.error)), flush=True
        )
        engines.append(e)
    for r in range(args.repeat):
        order = engines[r % len(engines) :] + engines[: r % len(engines)]
        done = []
        for e in order:
            if e.error or (e.engine == "pandas" and len(e.runs) > args.pandas_repeat):
                continue
            t = e.run()
            done.append(f"{e.label} {t:.2f}" if t is not None else f"{e.label} {e.error}")
        print(f"  round {r + 1}: " + ", ".join(done), flush=True)
    tables = {e.label: e.table() for e in engines}
    for e in engines:
        e.close()
    ref = tables.get("toolkit")
    med = {e.label: statistics.median(e.runs[1:]) for e in engines if len(e.runs) > 1 and not e.error}
    records = []
    for e in engines:
        records.append({
            "size": size, "rows": rows, "parquet_bytes": disk, "uncompressed_bytes": raw,
            "engine": e.label, "memory_limit": e.memory_limit,  # type: ignore[attr-defined]
            "median_s": med.get(e.label), "warmup_s": e.runs[0] if e.runs else None, "runs_s": e.runs[1:],
            "setup_s": e.info.get("setup_s"), "cluster": e.info.get("cluster"), "peak_rss": e.peak,
            "error": e.error, "agrees": agrees(ref, tables[e.label]) if ref and tables.get(e.label) else None,
        })  # fmt: skip
    return records


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "hdc-bench-analysis")
    ap.add_argument("--sizes", nargs="+", default=["20m", "100m"], choices=sorted(SIZES))
    ap.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    ap.add_argument("--repeat", type=int, default=5, help="timed rounds after the warm-up")
    ap.add_argument("--pandas-repeat", type=int, default=2, help="timed pandas runs (it is slow)")
    ap.add_argument("--memory", default="1GiB", help="memory limit on the 100M extract (Dask workers)")
    ap.add_argument("--no-uncapped-pandas", action="store_true", help="skip pandas without a memory limit")
    ap.add_argument("--ceiling", default="10GiB", help="never let any engine's processes use more")
    ap.add_argument("--timeout", type=float, default=900, help="seconds for one run")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--serve")
    ap.add_argument("--data", type=Path)
    args = ap.parse_args(argv)
    if args.serve:
        serve(args.serve, args.data, int(args.memory) if args.memory and args.memory.isdigit() else None)
        return 0

    from dask.utils import format_bytes, parse_bytes

    memory = int(parse_bytes(args.memory)) if args.memory else None
    ceiling = int(parse_bytes(args.ceiling))
    print(f"load average before: {os.getloadavg()[0]:.1f} (cpus: {_cpus()})", flush=True)
    records = []
    for size in sorted(args.sizes, key=lambda s: SIZES[s]):
        records += bench_size(size, args, memory, ceiling)
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")
    header = ["extract", "rows", "engine", "mem. limit", "median s", "runs s", "warm-up s", "peak RSS",
              "time / DuckDB", "time / DuckDB grouped", "pandas / time", "result vs toolkit"]  # fmt: skip
    print("\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for size in dict.fromkeys(r["size"] for r in records):
        rs = [r for r in records if r["size"] == size]
        duck = next((r["median_s"] for r in rs if r["engine"] == "duckdb"), None)
        grouped = next((r["median_s"] for r in rs if r["engine"] == "duckdb-grouped"), None)
        pandas_t = next(
            (r["median_s"] for r in rs if r["engine"] == "pandas" and r["median_s"]), None
        ) or next((r["median_s"] for r in rs if r["engine"] == "pandas (no limit)"), None)
        for r in rs:
            t = r["median_s"]
            print("| " + " | ".join([
                size, f"{r['rows'] / 1e6:.1f}M", r["engine"], format_bytes(r["memory_limit"]) if r["memory_limit"] else "-",
                f"{t:.2f}" if t else (r["error"] or "-"), " ".join(f"{x:.2f}" for x in r["runs_s"]) or "-",
                f"{r['warmup_s']:.2f}" if r["warmup_s"] else "-", format_bytes(r["peak_rss"] or 0),
                f"{t / duck:.2f}x" if t and duck else "-", f"{t / grouped:.2f}x" if t and grouped else "-",
                f"{pandas_t / t:.1f}x" if t and pandas_t else "-",
                r["agrees"] or "-",
            ]) + " |")  # fmt: skip
    for r in records:
        if r["engine"] == "toolkit" and r["setup_s"]:
            print(f"\n{r['size']}: TLS LocalCluster started in {r['setup_s']:.1f} s: {r['cluster']}")
    if args.json:
        args.json.write_text(json.dumps(records, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
