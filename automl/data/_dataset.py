"""Reading tables (files, or a request's body), splitting off target and id, encoding classes,
holdout and folds."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

from automl._text import did_you_mean, natural_key
from automl.errors import UserError
from automl.recipe import DataConfig

# A text column whose values are mostly numbers is a numeric column with stray text, not a category.
_NUMERIC_SHARE = 0.5
_PARQUET = {".parquet", ".pq"}
_COMPRESSED = {".gz", ".bz2", ".zip", ".xz", ".zst", ".tar"}  # pandas infers these
_SNIFF = 65536  # the bytes searched for a NUL before a CSV is parsed


@dataclass(frozen=True)
class Source:
    """Where rows come from, as a message names it: ``name`` (a file's path, or ``request``), the
    ``noun`` for the whole input, and how a row is located: as a file line (the header is line
    1) or, for rows that have no lines (JSON), as a row counted from 1."""

    name: str
    noun: str = "file"
    lines: bool = True

    def __str__(self) -> str:
        return self.name

    def at(self, mask: np.ndarray) -> str:
        """Where the first flagged row is: ``line N`` or ``row N``."""
        first = int(np.argmax(mask))
        return f"line {first + 2}" if self.lines else f"row {first + 1}"

    @classmethod
    def of(cls, where: Path | Source) -> Source:
        """``where`` itself, or the source of the file at path ``where``."""
        return where if isinstance(where, Source) else cls(str(where))


@dataclass(frozen=True)
class FeatureSchema:
    """The feature columns in file order, each numeric or categorical."""

    columns: tuple[str, ...]
    categorical: tuple[str, ...]

    @property
    def numeric(self) -> tuple[str, ...]:
        """The numeric feature columns in file order."""
        return tuple(c for c in self.columns if c not in self.categorical)

    def to_dict(self) -> dict[str, list[str]]:
        """Plain-data form, for the bundle and run.json."""
        return {"columns": list(self.columns), "categorical": list(self.categorical)}

    @classmethod
    def from_dict(cls, data: dict[str, list[str]]) -> FeatureSchema:
        """Inverse of :meth:`to_dict`."""
        return cls(tuple(data["columns"]), tuple(data["categorical"]))


@dataclass(frozen=True)
class Dataset:
    """Features, integer-coded target and the class labels they stand for.

    ``weights``, when given, weigh each row's training loss (class weights, sample weights);
    scores never use them.
    """

    features: pd.DataFrame
    target: np.ndarray
    classes: tuple
    schema: FeatureSchema
    ids: pd.Series | None = None
    weights: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.target)

    def rows(self, index: np.ndarray) -> Dataset:
        """The dataset restricted to the given row positions."""
        ids = self.ids.iloc[index] if self.ids is not None else None
        weights = self.weights[index] if self.weights is not None else None
        return Dataset(
            self.features.iloc[index], self.target[index], self.classes, self.schema, ids, weights
        )

    def weighted(self, by_class: np.ndarray | None) -> Dataset:
        """Each row's weight times its class's weight in ``by_class`` (``None``: unchanged)."""
        if by_class is None:
            return self
        weights = by_class[self.target]
        return replace(self, weights=weights if self.weights is None else self.weights * weights)

    def joined(self, other: Dataset) -> Dataset:
        """These rows followed by ``other``'s (of the same table: same classes and schema); a
        side without weights weighs 1 a row."""
        ids = None if self.ids is None or other.ids is None else pd.concat([self.ids, other.ids])
        weights = None
        if self.weights is not None or other.weights is not None:
            weights = np.concatenate([_row_weights(self), _row_weights(other)])
        return Dataset(
            pd.concat([self.features, other.features]),
            np.concatenate([self.target, other.target]),
            self.classes,
            self.schema,
            ids,
            weights,
        )

    def split_holdout(self, fraction: float, seed: int) -> tuple[Dataset, Dataset | None]:
        """Split off a stratified holdout that the search never sees."""
        if fraction == 0:
            return self, None
        counts = np.bincount(self.target, minlength=len(self.classes))
        rare = int(np.argmin(counts))
        if counts[rare] < 2:
            raise UserError(
                f"class '{self.classes[rare]}' has {counts[rare]} row; a holdout split needs at "
                "least 2 rows of every class (or set data.holdout: 0)"
            )
        search_rows, holdout_rows = train_test_split(
            np.arange(len(self)), test_size=fraction, stratify=self.target, random_state=seed
        )
        return self.rows(np.sort(search_rows)), self.rows(np.sort(holdout_rows))

    def folds(self, k: int, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Stratified k-fold (train rows, validation rows) pairs; the same for every trial."""
        counts = np.bincount(self.target, minlength=len(self.classes))
        rare = int(np.argmin(counts))
        if counts[rare] < k:
            raise UserError(
                f"class '{self.classes[rare]}' has {counts[rare]} rows for the search, fewer than "
                f"search.folds ({k}); lower the folds or add rows"
            )
        splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
        yield from splitter.split(np.zeros(len(self)), self.target)


def _row_weights(rows: Dataset) -> np.ndarray:
    return rows.weights if rows.weights is not None else np.ones(len(rows))


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV (optionally compressed) or Parquet file, with one-line errors for bad files."""
    source = Source(str(path))
    if not path.exists():
        raise UserError(f"{path}: data file not found")
    if path.is_dir():
        raise UserError(f"{path}: is a folder, expected a CSV or Parquet file")
    if path.suffix.lower() in _PARQUET:
        table = _parse(lambda: pd.read_parquet(path), source)
        return check_table(table, [str(c) for c in table.columns], source)
    if path.suffix.lower() not in _COMPRESSED:
        try:
            with path.open("rb") as handle:
                _refuse_binary(handle.read(_SNIFF), source)
        except OSError as exc:
            raise UserError(f"{path}: cannot read as a table: {exc}") from None
    table = _parse(lambda: pd.read_csv(path, low_memory=False), source)
    return check_table(table, _csv_header(path), source)


def read_csv_body(body: bytes, source: Source) -> pd.DataFrame:
    """Read CSV bytes held in memory (a request's body) with the checks and messages of
    :func:`read_table`, the source named instead of a path."""
    _refuse_binary(body[:_SNIFF], source)
    table = _parse(lambda: pd.read_csv(io.BytesIO(body), low_memory=False), source)
    return check_table(table, _csv_header(io.BytesIO(body)), source)


def check_table(table: pd.DataFrame, header: list[str], source: Source) -> pd.DataFrame:
    """Refuse a table without rows, or whose ``header`` (the column names as the input writes
    them) names a column twice; return the table."""
    if table.empty:
        raise UserError(f"{source}: the {source.noun} has a header but no rows")
    names = pd.Index(header)
    duplicated = names[names.duplicated() & (names != "")]
    if len(duplicated):
        raise UserError(f"{source}: column '{duplicated[0]}' appears more than once")
    return table


def _parse(read: Callable[[], pd.DataFrame], source: Source) -> pd.DataFrame:
    """``read()``, its failures turned into one line naming ``source``."""
    try:
        return read()
    except pd.errors.EmptyDataError:
        raise UserError(f"{source}: the {source.noun} is empty") from None
    except UnicodeDecodeError:
        raise UserError(f"{source}: not UTF-8 text; save the CSV as UTF-8") from None
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{source}: cannot read as a table: {first_line}") from None


def _refuse_binary(start: bytes, source: Source) -> None:
    """Refuse input whose start holds a NUL byte: binary, or text in UTF-16/32, not UTF-8 CSV."""
    nul = start.find(b"\x00")
    if nul >= 0:
        raise UserError(
            f"{source}: not UTF-8 text (a NUL byte at byte {nul}: a binary file, or UTF-16); "
            "save the CSV as UTF-8"
        )


def _csv_header(csv: Path | io.BytesIO) -> list[str]:
    """The column names as the CSV writes them (pandas renames a second 'x' to 'x.1')."""
    first = pd.read_csv(csv, header=None, nrows=1, dtype=str, keep_default_na=False)
    return [str(name) for name in first.iloc[0]]


def load_dataset(config: DataConfig, table: pd.DataFrame | None = None) -> Dataset:
    """Read the training file named by the recipe (or take ``table``) into a :class:`Dataset`.

    The test file, when the recipe names one, is checked too (read with the training schema), so
    that a bad one stops the run before any training rather than after the search.
    """
    if table is None:
        if config.train is None:
            raise UserError("data.train: required: the CSV or Parquet file to learn from")
        path = config.train
        table = read_table(path)
    else:
        path = Path("training frame")
    source = Source(str(path))
    _check_named_columns(config, table, path)
    raw_target = table[config.target]
    missing = raw_target.isna().to_numpy()
    if missing.any():
        raise UserError(f"{path}: target '{config.target}' is empty at {source.at(missing)}")
    classes = sorted_classes(pd.unique(raw_target))
    if len(classes) < 2:
        raise UserError(
            f"{path}: target '{config.target}' has only one class ({classes[0]!r}); "
            "classification needs at least two"
        )
    codes = {label: code for code, label in enumerate(classes)}
    target = raw_target.map(codes).to_numpy(dtype=np.int64)
    dropped = {config.target, *config.drop} | ({config.id} if config.id else set())
    feature_columns = [c for c in table.columns if c not in dropped]
    if not feature_columns:
        raise UserError(f"{path}: no feature columns left after target, id and drop")
    declared = None if config.categorical == "auto" else set(config.categorical)
    features, schema = prepare_features(table[feature_columns], source, declared)
    empty = [name for name in features.columns if features[name].isna().all()]
    if empty:
        raise UserError(
            f"{path}: column '{empty[0]}' is empty in every row; list it under data.drop"
        )
    ids = table[config.id].reset_index(drop=True) if config.id else None
    if ids is not None and (again := ids.duplicated().to_numpy()).any():
        raise UserError(
            f"{path}: data.id column '{config.id}' {source.at(again)}: "
            f"{_shown(ids[again].iloc[0])} appears more than once; ids must be unique"
        )
    if config.test is not None:
        read_features(config.test, schema, config.id)
    return Dataset(features, target, tuple(_plain(c) for c in classes), schema, ids)


def _check_named_columns(config: DataConfig, table: pd.DataFrame, path: Path) -> None:
    """Every column the recipe names (target, id, drop, categorical) is in the training file."""
    declared = config.categorical if config.categorical != "auto" else []
    named = [("data.target", config.target), ("data.id", config.id)]
    named += [("data.drop", c) for c in config.drop] + [("data.categorical", c) for c in declared]
    for field, column in named:
        if column is not None and column not in table.columns:
            raise UserError(
                f"{path}: {field} column '{column}' not found"
                f"{did_you_mean(column, [str(c) for c in table.columns])}; columns are "
                f"{_list_columns(table.columns)}"
            )


def prepare_features(
    table: pd.DataFrame, source: Path | Source, categorical: set[str] | None
) -> tuple[pd.DataFrame, FeatureSchema]:
    """Coerce numeric columns to float, categorical ones to text, and infer the schema.

    ``categorical=None`` infers: a text column is categorical unless most of its values are numbers,
    in which case the stray text is an error that names the column, line and value. The numeric
    columns are converted as one block, so that a wide row costs little (a server's request).
    """
    source = Source.of(source)
    given = table.columns.tolist()
    names = [str(name) for name in given]
    if names != given:
        table = table.set_axis(names, axis=1)
    if not table.index.equals(pd.RangeIndex(len(table))):
        table = table.reset_index(drop=True)
    if categorical is None:
        found_categorical = [n for n in names if _looks_categorical(table[n])]
    else:
        found_categorical = [n for n in names if n in categorical]
    numeric = [n for n in names if n not in found_categorical]
    block = table[numeric] if found_categorical else table
    features = pd.DataFrame(_to_numbers(block, source), columns=numeric)
    for name in found_categorical:
        column = table[name]
        features[name] = column.astype("string").astype(object).where(column.notna(), None)
    schema = FeatureSchema(tuple(names), tuple(found_categorical))
    return (features[list(schema.columns)] if found_categorical else features), schema


def _looks_categorical(column: pd.Series) -> bool:
    """A text column whose values are not mostly numbers."""
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        return False
    present = column.dropna()
    numeric_share = pd.to_numeric(present, errors="coerce").notna().mean() if len(present) else 1
    return numeric_share <= _NUMERIC_SHARE


def _to_numbers(block: pd.DataFrame, source: Source) -> np.ndarray:
    """The columns of ``block`` as one float64 matrix; the first column (in order) holding text
    or an infinite value is refused in one line naming its line and value."""
    ready = np.array([pd.api.types.is_numeric_dtype(dtype) for dtype in block.dtypes], dtype=bool)
    if ready.all():
        numbers = block.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        numbers = np.empty(block.shape, dtype=np.float64)
        numbers[:, ready] = block.loc[:, ready].to_numpy(dtype=np.float64, na_value=np.nan)
    text: dict[int, np.ndarray] = {}
    for index in map(int, np.flatnonzero(~ready)):
        column = block.iloc[:, index]
        converted = pd.to_numeric(column, errors="coerce")
        numbers[:, index] = converted.to_numpy(dtype=np.float64, na_value=np.nan)
        flagged = np.isnan(numbers[:, index]) & column.notna().to_numpy()
        if flagged.any():
            text[index] = flagged
    infinite = np.isinf(numbers)
    if text or infinite.any():
        for index, name in enumerate(block.columns):
            if index in text:
                value = block.iloc[:, index][text[index]].iloc[0]
                raise UserError(
                    f"{source}: column '{name}' {source.at(text[index])}: {_shown(value)} is not "
                    "a number (list the column under data.categorical if it holds categories)"
                )
            if infinite[:, index].any():
                raise UserError(
                    f"{source}: column '{name}' {source.at(infinite[:, index])}: infinite value"
                )
    return numbers


def read_features(
    path: Path, schema: FeatureSchema, id_column: str | None
) -> tuple[pd.DataFrame, pd.Series | None]:
    """Read rows to predict: the schema's columns (others ignored) and the id column if present."""
    return select_features(read_table(path), schema, id_column, Source(str(path)))


def select_features(
    table: pd.DataFrame, schema: FeatureSchema, id_column: str | None, source: Source
) -> tuple[pd.DataFrame, pd.Series | None]:
    """The rows to predict of a table read from ``source`` (a file, or a request built into a
    frame): the schema's columns, checked and coerced, and the id column if present. Other
    columns are ignored; a missing one is refused, with the closest unknown name suggested."""
    missing = [c for c in schema.columns if c not in table.columns]
    if missing:
        unknown = [str(c) for c in table.columns if c not in schema.columns and c != id_column]
        raise UserError(
            f"{source}: feature column '{missing[0]}' is missing"
            + did_you_mean(missing[0], unknown)
            + (f" ({len(missing)} missing in all)" if len(missing) > 1 else "")
        )
    features, _ = prepare_features(table[list(schema.columns)], source, set(schema.categorical))
    ids = table[id_column].reset_index(drop=True) if id_column in table.columns else None
    return features, ids


def sorted_classes(labels: Iterable[Any]) -> tuple[Any, ...]:
    """Class labels in the model's order: natural order (``c2`` before ``c10``)."""
    return tuple(sorted(labels, key=natural_key))


def typical_row(features: pd.DataFrame) -> dict[str, object]:
    """One row of typical values: each numeric column's median, each other column's most frequent
    value (``None`` for a column with no value at all)."""
    row: dict[str, object] = {}
    for name in features.columns:
        column = features[name].dropna()
        if column.empty:
            row[str(name)] = None
        elif pd.api.types.is_numeric_dtype(column):
            row[str(name)] = float(column.median())
        else:
            row[str(name)] = _plain(column.mode().iloc[0])
    return row


def _shown(value: object, limit: int = 40) -> str:
    """A cell quoted for a message, cut to ``limit`` characters (a cell may be megabytes)."""
    text = repr(str(value))
    return text if len(text) <= limit else f"{text[: limit - 4]}...' ({len(str(value))} chars)"


def _list_columns(columns: pd.Index, limit: int = 8) -> str:
    names = [str(c) for c in columns]
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _plain(value: object) -> object:
    """NumPy scalars as plain Python values, so class labels serialise to JSON."""
    return value.item() if isinstance(value, np.generic) else value
