"""Aggregate the runs of ``gifemo reproduce`` into the paper's tables, CSVs, plots and results.md.

Everything is computed from what the runs left on disk (``config.yaml``, ``report.json``,
``metrics.csv``, ``split.csv``; :mod:`gifemo.experiments.collect`), so ``write_results`` can be
re-run at any time, on a finished or a half-finished plan. The steps live in their own modules:
:mod:`~gifemo.experiments.summary` (mean ± t-interval over seeds),
:mod:`~gifemo.experiments.tables` (one dict per row), :mod:`~gifemo.experiments.plots` and
:mod:`~gifemo.experiments.markdown` (results.md, the paper's own number next to each cell).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gifemo.atomic import atomic_write_text
from gifemo.experiments.collect import collect_runs
from gifemo.experiments.layout import EXPERIMENTS, RESULTS_MD
from gifemo.experiments.markdown import render_markdown
from gifemo.experiments.plots import plot_ablation, plot_bars
from gifemo.experiments.tables import (
    ablation,
    out_of_domain,
    per_class_rows,
    run_rows,
    table2,
    table3,
    table4,
)


def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    buffer = io.StringIO()
    fields = list(dict.fromkeys(k for row in rows for k in row))
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())
    return path


def write_results(
    results_dir: str | Path,
    *,
    data: str | Path | None = None,
    experiments: Sequence[str] = EXPERIMENTS,
    failed: dict[str, str] | None = None,
    ood_data: str | Path | None = None,
) -> Path:
    """Write results.md, the CSVs and the plots of every finished run under ``results_dir``.

    Returns the path of ``results.md``. ``data`` is the dataset of the Fig. 5 histogram;
    ``ood_data`` the out-of-domain dataset whose reports the runs may hold.
    """
    out_dir = Path(results_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs, unfinished = collect_runs(out_dir, ood_name=Path(ood_data).name if ood_data else None)
    tables = {
        "table2": table2(runs),
        "table3": table3(runs),
        "table4": table4(runs),
        "ablation": ablation(runs),
    }
    if ood_data:
        tables["ood"] = out_of_domain(runs)
    write_csv(out_dir / "runs.csv", run_rows(runs))
    write_csv(out_dir / "per_class.csv", per_class_rows(runs))
    for name, rows in tables.items():
        write_csv(out_dir / f"{name}.csv", rows)
    plot_bars(
        [r["label"] for r in tables["table2"]],
        tables["table2"],
        "f1",
        "paper_f1",
        out_dir / "table2_f1.png",
        title="ResNet-ConvGRU F1 per class (Table 2)",
        ylabel="F1 score",
    )
    plot_bars(
        [r["name"] for r in tables["table4"]],
        tables["table4"],
        "accuracy",
        "paper_accuracy",
        out_dir / "table4_accuracy.png",
        title="Test accuracy per model (Table 4)",
        ylabel="accuracy",
    )
    plot_ablation(tables["ablation"], out_dir / "ablation.png")
    text = render_markdown(
        runs,
        out_dir=out_dir,
        data=data,
        experiments=experiments,
        unfinished=unfinished,
        failed=failed or {},
        tables=tables,
        ood_data=ood_data,
    )
    path = out_dir / RESULTS_MD
    atomic_write_text(path, text)
    return path
