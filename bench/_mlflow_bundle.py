"""An automl bundle as an MLflow pyfunc model, the peer bench/serve.py serves with
``mlflow models serve``. Runs only in the benchmark's own environment, which has MLflow.

MLflow loads this file as the model's code ("models from code": nothing is pickled); its
``predict`` returns the bundle's class probabilities as a DataFrame, one column per class named
as ``automl predict`` names them. The request's columns are coerced as ``automl predict`` coerces
a file's. Run as a script, it saves a bundle as an MLflow model:

    python bench/_mlflow_bundle.py BUNDLE_DIR MODEL_DIR [--traced]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd


class BundleModel(mlflow.pyfunc.PythonModel):
    """Class probabilities of an automl bundle (the model's artifact ``bundle``)."""

    def load_context(self, context: Any) -> None:
        """Load the bundle; trace its Keras members when the model config says ``traced``."""
        from automl.results import ModelBundle

        self.bundle = ModelBundle.load(context.artifacts["bundle"])
        if (context.model_config or {}).get("traced"):
            self.bundle.trace()

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        """One probability column per class, in the bundle's class order."""
        from automl.data import prepare_features

        schema = self.bundle.schema
        features, _ = prepare_features(
            model_input[list(schema.columns)], Path("request"), set(schema.categorical)
        )
        return pd.DataFrame(
            self.bundle.predict_proba(features), columns=[str(c) for c in self.bundle.classes]
        )


mlflow.models.set_model(BundleModel())


def save(bundle: Path, destination: Path, *, traced: bool) -> None:
    """Save ``bundle`` (copied in as an artifact) with this file as the model's code."""
    mlflow.pyfunc.save_model(
        path=str(destination),
        python_model=str(Path(__file__).resolve()),
        artifacts={"bundle": str(bundle)},
        model_config={"traced": traced},
        pip_requirements=["mlflow", "automl"],  # given, so MLflow does not load the model to infer
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Save an automl bundle as an MLflow model.")
    parser.add_argument("bundle", type=Path)
    parser.add_argument("destination", type=Path)
    parser.add_argument("--traced", action="store_true", help="trace the Keras members on load")
    args = parser.parse_args()
    save(args.bundle, args.destination, traced=args.traced)
