"""Where a profile's run spent its time, cell by cell (papermill records each cell's duration).

    python scripts/cell_times.py RUN_DIR [RUN_DIR ...] --labels before after \
        --out results/speed/cell_times_avx2.csv

For each run folder (``python -m icm_utils.reproduce`` writes one per run) and each executed
notebook in it, the cells that took at least ``--min-seconds``, with their first source line.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd


def cell_times(run_dir: Path, min_seconds: float = 1.0) -> pd.DataFrame:
    rows = []
    for nb_path in sorted(Path(run_dir).glob("*.ipynb")):
        nb = json.loads(nb_path.read_text())
        for i, cell in enumerate(nb["cells"]):
            seconds = cell.get("metadata", {}).get("papermill", {}).get("duration")
            if cell["cell_type"] != "code" or seconds is None or seconds < min_seconds:
                continue
            src = "".join(cell["source"]).strip().splitlines()
            rows.append({"notebook": nb_path.stem, "cell": i, "seconds": round(seconds, 1),
                         "first_line": src[0][:100] if src else ""})
    return pd.DataFrame(rows, columns=["notebook", "cell", "seconds", "first_line"])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dirs", nargs="+", type=Path)
    p.add_argument("--labels", nargs="+", help="one per run folder (default: the folder names)")
    p.add_argument("--min-seconds", type=float, default=1.0)
    p.add_argument("--out", type=Path)
    a = p.parse_args(argv)
    labels = a.labels or [d.name for d in a.run_dirs]
    if len(labels) != len(a.run_dirs):
        raise SystemExit("give one label per run folder")
    df = pd.concat([cell_times(d, a.min_seconds).assign(run=label)
                    for d, label in zip(a.run_dirs, labels)], ignore_index=True)
    print(df.to_string(index=False))
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(a.out, index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
