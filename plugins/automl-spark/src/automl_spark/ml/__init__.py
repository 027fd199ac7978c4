"""pyspark.ml stages: :class:`AutoMLEstimator` searches (or trains a fixed network), giving an
:class:`AutoMLModel` whose ``transform`` adds probability and prediction columns on the executors.

Both fit in a ``pyspark.ml.Pipeline`` after StringIndexer, VectorAssembler and StandardScaler, and
save and load with the pipeline (the model as an automl bundle, loaded in Keras safe mode)::

    from pyspark.ml import Pipeline
    from pyspark.ml.feature import StandardScaler, StringIndexer, VectorAssembler
    from automl_spark.ml import AutoMLEstimator

    pipeline = Pipeline(stages=[
        StringIndexer(inputCol="target", outputCol="label"),
        VectorAssembler(inputCols=feature_columns, outputCol="raw"),
        StandardScaler(inputCol="raw", outputCol="features"),
        AutoMLEstimator(recipe="recipe.yaml"),
    ])
    model = pipeline.fit(train)
    model.transform(test).select("id", "probability", "prediction")
"""

from automl_spark.ml._estimator import AutoMLEstimator
from automl_spark.ml._model import AutoMLModel

__all__ = ["AutoMLEstimator", "AutoMLModel"]
