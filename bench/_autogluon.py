"""AutoGluon, the peer of bench/quality.py and bench/tables.py, in its own virtual environment.

Run by those benches with ``.venv-autogluon/bin/python`` (``bench/requirements-autogluon.txt``);
it imports nothing of this product. It fits ``TabularPredictor(label=TARGET,
eval_metric="log_loss").fit(train, presets=PRESET, time_limit=SECONDS)`` on ``TRAIN`` (the id
column dropped, the target as text), predicts the class probabilities of ``HOLDOUT``, and writes
them to ``OUT/proba.csv`` (one column per class) with ``OUT/summary.json``: the fit's and the
prediction's seconds, the best model, and each model family's weight in AutoGluon's final
weighted ensemble. The calling bench scores the probabilities exactly as it scores its own.

    .venv-autogluon/bin/python bench/_autogluon.py TRAIN HOLDOUT --target T --id ID
        --seconds 180 --out DIR [--presets best_quality]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
from autogluon.tabular import TabularPredictor


def main() -> None:
    """Fit, predict, write the probabilities and the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train", type=Path)
    parser.add_argument("holdout", type=Path)
    parser.add_argument("--target", required=True)
    parser.add_argument("--id", required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--presets", default="best_quality")
    args = parser.parse_args()
    train = pd.read_csv(args.train).drop(columns=[args.id])
    holdout = pd.read_csv(args.holdout).drop(columns=[args.id, args.target])
    train[args.target] = train[args.target].astype(str)
    started = time.perf_counter()
    predictor = TabularPredictor(
        label=args.target, eval_metric="log_loss", path=str(args.out / "models"), verbosity=1
    ).fit(train, presets=args.presets, time_limit=args.seconds)
    fit_seconds = time.perf_counter() - started
    proba = predictor.predict_proba(holdout, as_multiclass=True)
    predict_seconds = time.perf_counter() - started - fit_seconds
    proba.columns = [str(c) for c in proba.columns]
    proba.to_csv(args.out / "proba.csv", index=False)
    summary = {
        "presets": args.presets,
        "fit_seconds": fit_seconds,
        "predict_seconds": predict_seconds,
        "best_model": predictor.model_best,
        "models": len(predictor.model_names()),
        "ensemble_shares": ensemble_shares(predictor),
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


def ensemble_shares(predictor: TabularPredictor) -> dict[str, float]:
    """Each model family's share of the best model's weights, when it is a weighted ensemble
    (families by name: ``LightGBM_BAG_L1`` and ``LightGBMXT_BAG_L2`` both count as LightGBM)."""
    info = predictor.info()["model_info"].get(predictor.model_best, {})
    weights = info.get("children_info", {}).get("S1F1", {}).get("model_weights", {})
    shares: dict[str, float] = {}
    for name, weight in weights.items():
        family = name.split("_")[0].removesuffix("XT").removesuffix("Large")
        shares[family] = shares.get(family, 0.0) + float(weight)
    return shares


if __name__ == "__main__":
    main()
