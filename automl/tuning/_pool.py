"""The messages between the search's driver and a pool of workers, and the pool's contract."""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from automl.data import Dataset
from automl.training import TrainSettings
from automl.tuning._evaluate import FoldRecord
from automl.tuning._halving import EpochHalving, Rungs


@dataclass(frozen=True)
class SearchJob:
    """What every trial of a search shares; a pool sends it to each worker once.

    ``time_limit`` is the recipe's per-trial limit in seconds (``None``: none). ``pack``, when
    given, turns a fold's model and preprocessor into bytes the worker hands back with the fold's
    scores (a module-level function, so it travels to the workers): the driver keeps them for the
    ensemble.
    """

    dataset: Dataset
    folds: Sequence[tuple[np.ndarray, np.ndarray]]
    settings: TrainSettings
    metric: str
    time_limit: float | None = None
    pack: Callable[[Any, Any], bytes] | None = None


@dataclass(frozen=True)
class RungsSoFar:
    """The halving rule for a first fold, with the other trials' losses at the rungs when the
    fold was sent."""

    rule: EpochHalving
    others: Rungs


@dataclass(frozen=True)
class FoldTask:
    """Train fold ``step`` of trial ``trial`` with the network ``spec`` (a ModelSpec as a dict);
    the trial has trained for ``time_used`` seconds already (its time limit counts them).
    ``halving``, on a first fold, stops it at a rung where it ranks too low."""

    trial: int
    spec: dict
    step: int
    time_used: float = 0.0
    halving: RungsSoFar | None = None


@dataclass
class FoldOutcome:
    """A fold's record (without its model and preprocessor), or why there is none.

    ``lost`` says the worker itself died (killed, out of memory) rather than the training failing;
    ``pruned`` that halving stopped a first fold (``error`` says why). ``rungs`` are the first
    fold's losses at the rungs it reached.
    """

    trial: int
    step: int
    record: FoldRecord | None
    error: str = ""
    lost: bool = False
    pruned: bool = False
    rungs: dict[str, float] = field(default_factory=dict)


class TrialPool(abc.ABC):
    """Trains folds of several trials at once; the driver keeps ``size`` trials in flight."""

    size: int

    @abc.abstractmethod
    def submit(self, task: FoldTask) -> None:
        """Queue a fold; it starts as soon as a worker is free."""

    @abc.abstractmethod
    def wait(self, timeout: float) -> list[FoldOutcome]:
        """The outcomes that arrive within ``timeout`` seconds (possibly none)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop the workers, abandoning folds still training."""
