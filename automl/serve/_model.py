"""The served model: a table from a request in, its prediction rows out (the id column, the
label, one probability per class: what ``automl predict`` writes), through the micro-batcher."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from automl.data import Source, select_features
from automl.results import ModelBundle
from automl.serve._batcher import Batcher
from automl.serve._errors import HttpError
from automl.serve._settings import Limits

# Messages name the request as files name their path; CSV rows are lines (the header is line 1),
# JSON rows are counted from 1.
CSV_BODY = Source("request", noun="body")
JSON_BODY = Source("request", noun="body", lines=False)


@dataclass
class ServedModel:
    """A bundle under a name, predicting through ``batcher``, within ``limits``."""

    bundle: ModelBundle
    name: str
    batcher: Batcher
    limits: Limits

    async def predict(self, table: pd.DataFrame, source: Source) -> pd.DataFrame:
        """The prediction frame of ``table``'s rows, checked as ``automl predict`` checks a file.

        Raises:
            automl.errors.UserError: a missing column, text in a numeric column, ...
            HttpError: 413 over the rows a request may hold; 503 when the queue is full.
        """
        if len(table) > self.limits.max_rows:
            raise HttpError(
                413, f"{source}: {len(table)} rows, over {self.limits.max_rows} per request"
            )
        features, ids = select_features(table, self.bundle.schema, self.bundle.id_column, source)
        frame = await self.batcher.predict(features)
        if ids is not None:
            frame.insert(0, str(self.bundle.id_column), ids.to_numpy())
        return frame
