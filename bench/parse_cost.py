"""What a DAG processor pays for this provider: import + example DAGs, over ``import airflow.sdk``.

Each sample is a fresh Python process (pinned to one core) that imports ``airflow.sdk``,
then, timed separately, the operator module under test and the DAGs that use it. The figure
is the median over several processes. Bytecode caches are warm for every target alike
(a private ``PYTHONPYCACHEPREFIX``, filled by one discarded run), as in a real deployment.

Side by side: the dbt Cloud provider's operator, installed into a bench-only directory
(``.venv-bench/dbt-site``, on ``PYTHONPATH`` for its samples only; never a dev dependency).

While the provider's module is imported and its DAGs are built, an audit hook
(``sys.addaudithook``) records network activity (``socket.*``) and file opens other than the
import system reading code; both must be zero.

    .venv/bin/python bench/parse_cost.py             # 9 processes per target
    .venv/bin/python bench/parse_cost.py --runs 5 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common

TARGET_MS = 50.0
DBT_SITE = common.ROOT / ".venv-bench" / "dbt-site"
DBT_PACKAGES = (
    "apache-airflow-providers-dbt-cloud",
    "apache-airflow-providers-http",
    "requests-toolbelt",
)

# The sample, run with ``python -c``: argv = [module, dag files (json), dbt (0/1)].
# Windows: (1) ``import airflow.sdk``; (2) a warm-up DAG using only Airflow's own features
# (cron schedule, Params, a @task, a BaseOperator, expand) - the lazy imports any DAG file
# pays, e.g. croniter, whose import runs ``file -b python`` in a subprocess; (3) the operator
# module under test; (4) its DAGs. The audit hook watches (3) and (4) only.
PROBE = r"""
import json, sys, time
clock = time.perf_counter
window = {"on": False}
seen = {"socket": [], "open": [], "subprocess": []}
CODE = (".py", ".pyc", ".so", ".pth")

def audit(event, args):
    if not window["on"]:
        return
    if event.startswith("socket."):
        seen["socket"].append(event)
    elif event == "open":
        path = str(args[0])
        if not path.endswith(CODE) and "__pycache__" not in path:
            seen["open"].append(path)
    elif event in ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn"):
        seen["subprocess"].append(event)

sys.addaudithook(audit)
module, dag_files, dbt = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3] == "1"
t0 = clock()
import airflow.sdk
t1 = clock()
from datetime import datetime, timezone
from airflow.sdk import DAG, BaseOperator, Param, dag, task
from airflow.sdk.definitions._internal.contextmanager import DagContext

@dag(dag_id="warm_up", schedule="0 2 * * *", start_date=datetime(2025, 1, 1, tzinfo=timezone.utc),
     params={"p": Param("x", type="string")}, default_args={"retries": 1})
def warm_up():
    @task
    def one(x: int) -> int:
        return x
    one.expand(x=[1, 2]) >> BaseOperator(task_id="op")
warm_up()
t2 = clock()
built = []
original_pop = DagContext.pop.__func__
def counting_pop(cls):
    dag_obj = original_pop(cls)
    if dag_obj is not None:
        built.append(dag_obj.dag_id)
    return dag_obj
DagContext.pop = classmethod(counting_pop)
window["on"] = True
import importlib
mod = importlib.import_module(module)
t3 = clock()
if dbt:
    with DAG("dbt_probe", schedule=None):
        mod.DbtCloudRunJobOperator(task_id="run", job_id=1)
else:
    import runpy
    for path in dag_files:
        runpy.run_path(path, run_name="__dag_probe__")
t4 = clock()
window["on"] = False
print("RESULT " + json.dumps({
    "sdk_ms": (t1 - t0) * 1e3, "warm_ms": (t2 - t1) * 1e3, "import_ms": (t3 - t2) * 1e3,
    "dags_ms": (t4 - t3) * 1e3, "dags": len(built), "socket": seen["socket"],
    "open": seen["open"], "subprocess": seen["subprocess"],
}))
"""


def ensure_dbt_site() -> bool:
    """Install the dbt Cloud provider into the bench-only directory (once); False if impossible."""
    if (DBT_SITE / "airflow" / "providers" / "dbt").is_dir():
        return True
    cmd = ["uv", "pip", "install", "--python", sys.executable, "--target", str(DBT_SITE)]
    cmd += ["--no-deps", *DBT_PACKAGES]
    print("installing the dbt Cloud provider for comparison:", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=False).returncode == 0


def sample(
    module: str, dag_files: list[str], *, dbt: bool, env: dict[str, str], core: int | None
) -> dict[str, Any]:
    args = ["-c", PROBE, module, json.dumps(dag_files), "1" if dbt else "0"]
    cmd = [sys.executable, *args]
    if core is not None:
        cmd = ["taskset", "-c", str(core), *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[len("RESULT ") :])
            return result
    raise RuntimeError(f"probe of {module} failed (rc={proc.returncode}):\n{proc.stderr[-3000:]}")


def measure(
    name: str,
    module: str,
    dag_files: list[str],
    *,
    dbt: bool,
    env: dict[str, str],
    runs: int,
    core: int | None,
) -> dict[str, Any]:
    sample(module, dag_files, dbt=dbt, env=env, core=core)  # fills the bytecode cache
    runs_out = [sample(module, dag_files, dbt=dbt, env=env, core=core) for _ in range(runs)]
    keys = ("sdk_ms", "warm_ms", "import_ms", "dags_ms")
    med = {k: common.median([r[k] for r in runs_out]) for k in keys}
    last = runs_out[-1]
    return {
        "target": name,
        "module": module,
        "runs": runs,
        "sdk_ms": med["sdk_ms"],
        "warm_ms": med["warm_ms"],
        "import_ms": med["import_ms"],
        "dags_ms": med["dags_ms"],
        "over_sdk_ms": common.median([r["import_ms"] + r["dags_ms"] for r in runs_out]),
        "dags": last["dags"],
        "socket_events": sorted({e for r in runs_out for e in r["socket"]}),
        "file_opens": sorted({p for r in runs_out for p in r["open"]}),
        "subprocesses": sorted({e for r in runs_out for e in r["subprocess"]}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9, help="fresh processes per target")
    parser.add_argument("--no-dbt", action="store_true", help="skip the dbt Cloud comparison")
    parser.add_argument("--json", type=Path, help="write the figures as JSON here")
    args = parser.parse_args(argv)

    info = common.machine_info()
    core, _ = common.core_plan()
    scratch = Path(tempfile.mkdtemp(prefix="videodb-parse-cost-"))
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        AIRFLOW_HOME=str(scratch / "airflow"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        PYTHONPYCACHEPREFIX=str(scratch / "pycache"),
    )
    dag_files = sorted(str(p) for p in (common.ROOT / "example_dags").glob("*.py"))
    rows = [
        measure(
            "videodb: operators module",
            "airflow_provider_videodb.operators.videodb",
            [],
            dbt=False,
            env=env,
            runs=args.runs,
            core=core,
        ),
        measure(
            f"videodb: operators + {len(dag_files)} example DAG files",
            "airflow_provider_videodb.operators.videodb",
            dag_files,
            dbt=False,
            env=env,
            runs=args.runs,
            core=core,
        ),
    ]
    if not args.no_dbt and ensure_dbt_site():
        dbt_env = dict(
            env, PYTHONPATH=os.pathsep.join(filter(None, [str(DBT_SITE), env.get("PYTHONPATH")]))
        )
        rows.append(
            measure(
                "dbt Cloud: operators module + 1-task DAG",
                "airflow.providers.dbt.cloud.operators.dbt",
                [],
                dbt=True,
                env=dbt_env,
                runs=args.runs,
                core=core,
            )
        )

    print(common.machine_line(info))
    print(
        f"\nParse cost over `import airflow.sdk` (+ Airflow's own lazy imports, warmed by a "
        f"provider-free DAG), median of {args.runs} fresh processes"
    )
    print(
        common.table(
            rows,
            [
                ("target", "target"),
                ("sdk_ms", "airflow.sdk ms"),
                ("warm_ms", "Airflow warm-up DAG ms"),
                ("import_ms", "import ms"),
                ("dags_ms", "DAG build ms"),
                ("over_sdk_ms", "total over sdk+warm-up ms"),
                ("dags", "DAGs"),
            ],
        )
    )
    ok = True
    for row in rows[:2]:
        io_free = not (row["socket_events"] or row["file_opens"] or row["subprocesses"])
        within = row["over_sdk_ms"] <= TARGET_MS
        ok = ok and io_free and within
        print(
            f"\n  [{'PASS' if within else 'FAIL'}] {row['target']}: "
            f"{row['over_sdk_ms']:.1f} ms over airflow.sdk + warm-up (target <= {TARGET_MS:.0f} ms)"
        )
        print(
            f"  [{'PASS' if io_free else 'FAIL'}] no network/file I/O at import or in "
            f"constructors: sockets={row['socket_events']} opens={row['file_opens']} "
            f"subprocesses={row['subprocesses']}"
        )
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "rows": rows}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
