"""The backend contract: plain data in, plain data out."""

from __future__ import annotations

import abc
import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from automl.spec import ModelSpec

EpochCallback = Callable[[int, dict[str, float]], None]
FoldEpochCallback = Callable[[int, int, dict[str, float]], None]


@dataclass(frozen=True)
class TrainSettings:
    """How to train: epochs, early stopping and the seed. The same for every fold of a search."""

    max_epochs: int
    monitor: str = "val_loss"
    patience: int = 5
    min_delta: float = 0.0
    restore_best_weights: bool = True
    seed: int = 0
    verbose: int = 0


@dataclass(frozen=True)
class FoldData:
    """One fold's preprocessed arrays: float32 features and integer class codes.

    ``w_train``, when given, holds a weight per training row (class weights, sample weights) that
    scales the row's training loss; the validation rows are never weighted.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_valid: np.ndarray
    y_valid: np.ndarray
    n_classes: int
    w_train: np.ndarray | None = None


@dataclass
class FoldResult:
    """What training one fold produced.

    ``history`` has one value per epoch run for each Keras metric (``loss``, ``val_loss``, ...);
    ``best_epoch`` (1-based) is the epoch whose weights were kept, and ``valid_proba`` holds the
    class probabilities those weights give on the validation rows.
    """

    history: dict[str, list[float]]
    best_epoch: int
    epochs_run: int
    seconds: float
    valid_proba: np.ndarray
    n_params: int
    model: Any = field(default=None, repr=False)


class Backend(abc.ABC):
    """Trains networks described by a :class:`ModelSpec`.

    Options from the recipe's ``backend.options`` arrive as keyword arguments to ``__init__``.
    A backend whose class sets :attr:`process_safe` can be made in a fresh worker process from
    its options alone (no session or server of the search's process), so ``search.parallel``
    runs several trials at once in local worker processes, each with a backend of its own.
    """

    process_safe: ClassVar[bool] = False

    @abc.abstractmethod
    def evaluate(
        self,
        spec: ModelSpec,
        data: FoldData,
        settings: TrainSettings,
        on_epoch: EpochCallback | None = None,
    ) -> FoldResult:
        """Train on ``data.x_train`` (each row's loss weighted by ``data.w_train`` when given)
        with early stopping on ``data.x_valid``; return the result.

        ``on_epoch(epoch, logs)`` (1-based epoch, Keras' epoch logs), when given, is called after
        each epoch for progress displays; a backend that cannot report epochs may ignore it.

        Raises:
            automl.errors.TrialFailed: when training cannot produce a model (e.g. NaN loss).
        """

    @abc.abstractmethod
    def fit(
        self,
        spec: ModelSpec,
        x: np.ndarray,
        y: np.ndarray,
        n_classes: int,
        settings: TrainSettings,
        epochs: int,
        sample_weight: np.ndarray | None = None,
    ) -> Any:
        """Train the final model on all rows for exactly ``epochs`` epochs; return a keras.Model.

        ``sample_weight``, when given, weighs each row's loss as :attr:`FoldData.w_train` does.
        """

    def evaluate_folds(
        self,
        spec: ModelSpec,
        folds: Iterable[tuple[FoldData, TrainSettings]],
        on_epoch: FoldEpochCallback | None = None,
    ) -> Iterator[FoldResult]:
        """Evaluate a trial's folds, yielding each result in fold order as soon as it is ready.

        The search scores each result and may prune the trial; it then closes this iterator, so
        a backend that trains folds concurrently should cancel the rest in a ``finally`` block.
        ``on_epoch(fold, epoch, logs)`` is :meth:`evaluate`'s callback with the fold's index.
        The default trains one fold after another with :meth:`evaluate`.
        """
        for index, (data, settings) in enumerate(folds):
            listener = None if on_epoch is None else functools.partial(on_epoch, index)
            yield self.evaluate(spec, data, settings, on_epoch=listener)

    def configure_process(self, threads: int) -> None:  # noqa: B027 - optional hook
        """Set up a fresh worker process that will train with this backend, before it trains.

        A pool that runs trials in processes of its own (``search.parallel``) calls this once per
        worker with the worker's share of the machine's cores. The default does nothing.
        """

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release what the backend holds (sessions, servers). Called once after the search."""
