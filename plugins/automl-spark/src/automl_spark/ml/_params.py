"""The column parameters the estimator and its model share."""

from __future__ import annotations

from pyspark.ml.param.shared import (
    HasFeaturesCol,
    HasLabelCol,
    HasPredictionCol,
    HasProbabilityCol,
)


class ColumnParams(HasFeaturesCol, HasLabelCol, HasPredictionCol, HasProbabilityCol):
    """``featuresCol`` (a vector), ``labelCol``, ``predictionCol`` and ``probabilityCol``."""

    def __init__(self) -> None:
        super().__init__()
        self._setDefault(
            featuresCol="features",
            labelCol="label",
            predictionCol="prediction",
            probabilityCol="probability",
        )
