"""The ensemble over a search's best trials: greedy weights or a stacker, chosen from the
out-of-fold predictions each candidate stored (see :func:`automl.results.keep_trial`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from automl.data import Dataset
from automl.metrics import direction, score_all
from automl.recipe import EnsembleConfig
from automl.results._artifacts import artifact_key, keep_only, load_fold_models, load_oof
from automl.results._bagging import stored_seeds
from automl.results._bundle import Member
from automl.results._greedy import blend, select_ensemble, selection_oof
from automl.results._stacking import fit_stacker
from automl.spec import ModelSpec
from automl.tuning import Folds, ranked_trials, record


@dataclass
class EnsembleChoice:
    """The chosen ensemble: its method, weights by candidate (greedy) or each candidate's share
    of the stacker (stack), its out-of-fold scores, each candidate's folders (one per seed of a
    trial bagged over seeds) and the stacker."""

    method: str
    weights: dict[str, float]
    scores: dict[str, float]
    folders: dict[str, list[Path]]
    stacker: Any = None

    def describe(self) -> str:
        """One readable cell, e.g. ``trial 3 x0.5 + trial 7 x0.2 + reference x0.3``, or
        ``stacked: trial 3 0.4, trial 7 0.2, reference 0.4``."""
        if self.method == "stack":
            return "stacked: " + ", ".join(f"{n} {w:.2g}" for n, w in self.weights.items())
        return " + ".join(f"{name} x{weight:.2g}" for name, weight in self.weights.items())

    def members(self) -> list[Member]:
        """Each candidate's fold models, one group per candidate (group k holds candidate k of
        :attr:`weights`), its weight shared among them."""
        members = []
        for group, name in enumerate(self.weights):
            pairs = [pair for folder in self.folders[name] for pair in load_fold_models(folder)]
            members += self._group(group, name, pairs)
        return members

    def refitted(
        self, members: list[Member], fitted: Mapping[str, tuple[Any, Any]]
    ) -> list[Member]:
        """``members`` (as :meth:`members` gives them) with the group of each candidate named in
        ``fitted`` replaced by its one (model, preprocessor) pair there, with the group's
        weight."""
        names = list(self.weights)
        kept = [member for member in members if names[member.group] not in fitted]
        for group, name in enumerate(names):
            if name in fitted:
                kept += self._group(group, name, [fitted[name]])
        return sorted(kept, key=lambda member: member.group)

    def _group(self, group: int, name: str, pairs: list[tuple[Any, Any]]) -> list[Member]:
        """Candidate ``name``'s members: its weight shared among ``pairs`` (under a stacker, the
        group's mean, which the stacker weighs)."""
        weight = self.weights[name] if self.method == "greedy" else 1.0
        return [Member(model, prep, weight / len(pairs), group) for model, prep in pairs]


def candidate_name(reference: str) -> str:
    """The ensemble's name for the candidate of the reference named ``reference``."""
    return reference.replace("_", " ")


def choose_ensemble(
    study: optuna.Study,
    dataset: Dataset,
    folds: Folds,
    trials_dir: Path,
    config: EnsembleConfig,
    metric: str,
    references: dict[str, Path],
) -> EnsembleChoice | None:
    """Greedy selection or a stacker over the best complete trials' stored out-of-fold
    predictions (``config.method``; ``auto``: both, and the one that scores better out of fold,
    greedy selection's weights chosen without each fold's rows, as the stacker's are).

    The best ``config.candidates`` trials with stored predictions are the candidates, and the
    ``references`` (each name's folder); the folders under ``trials_dir`` of trials that can no
    longer be candidates are deleted. A stacker uses every candidate and is scored out of fold on
    ``folds``. ``None`` when neither a trial nor a reference has stored predictions.
    """
    folders: dict[str, list[Path]] = {}
    oofs: list[np.ndarray] = []
    seen: set[str] = set()
    for trial in ranked_trials(study, metric):
        key = artifact_key(ModelSpec.from_dict(trial.user_attrs[record.SPEC]).to_json())
        if key in seen:  # a trial run again shares its first run's folder
            continue
        seeds = stored_seeds(trials_dir / key)
        if not seeds or seeds[trials_dir / key].shape != (len(dataset), len(dataset.classes)):
            continue  # another data set's
        seen.add(key)
        name = f"trial {trial.number}" + (f" ({len(seeds)} seeds)" if len(seeds) > 1 else "")
        folders[name] = list(seeds)
        oofs.append(np.asarray(np.mean(list(seeds.values()), axis=0, dtype=np.float64)))  # mean
        if len(folders) == config.candidates:
            break
    keep_only(trials_dir, [paths[0].name for paths in folders.values()])
    for name, folder in references.items():
        reference_oof = load_oof(folder)
        if reference_oof is not None and reference_oof.shape == (
            len(dataset),
            len(dataset.classes),
        ):
            folders[candidate_name(name)] = [folder]
            oofs.append(reference_oof)
    if not folders:
        return None
    names = list(folders)
    choices = []
    if config.method in ("stack", "auto"):
        stacking = fit_stacker(oofs, dataset.target, folds, dataset.weights)
        scores = score_all(metric, dataset.target, stacking.oof)
        shares = dict(zip(names, stacking.shares, strict=True))
        choices.append(EnsembleChoice("stack", shares, scores, folders, stacking.stacker))
    if config.method in ("greedy", "auto"):
        selection = select_ensemble(oofs, dataset.target, metric, config.rounds)
        weights = {names[i]: selection.weights[i] for i in selection.chosen()}
        if config.method == "auto":  # scored out of fold, as the stacker it is compared with
            measured = selection_oof(oofs, dataset.target, folds, metric, config.rounds)
        else:
            measured = blend(oofs, selection.weights)
        scores = score_all(metric, dataset.target, measured)
        choices.append(EnsembleChoice("greedy", weights, scores, {n: folders[n] for n in weights}))
    sign = 1.0 if direction(metric) == "minimize" else -1.0
    return min(choices, key=lambda choice: sign * choice.scores[metric])
