"""One fold of one trial, as a worker runs it."""

from __future__ import annotations

from dataclasses import replace

import optuna

from automl.errors import failure_reason
from automl.spec import ModelSpec
from automl.training import Backend
from automl.tuning._evaluate import evaluate_spec
from automl.tuning._halving import halving_callback
from automl.tuning._pool import FoldOutcome, FoldTask, SearchJob


def run_fold(job: SearchJob, backend: Backend, task: FoldTask) -> FoldOutcome:
    """Preprocess, train and score fold ``task.step``; an error becomes the outcome's reason.

    The fold gets the seed the serial search gives it, so a spec scores the same either way.
    The model and preprocessor stay here: the driver needs the scores, history and predictions,
    and, when the job packs them (for an ensemble), their bytes.
    """
    settings = replace(job.settings, seed=job.settings.seed + task.step)
    rungs: dict[str, float] = {}
    on_epoch = None
    if task.halving is not None:
        others = task.halving.others
        on_epoch = halving_callback(task.halving.rule, lambda: others, rungs.update)
    try:
        evaluation = evaluate_spec(
            ModelSpec.from_dict(task.spec),
            job.dataset,
            [job.folds[task.step]],
            backend,
            settings,
            job.metric,
            on_epoch=on_epoch,
            time_limit=job.time_limit,
            time_used=task.time_used,
        )
    except optuna.TrialPruned as exc:
        return FoldOutcome(task.trial, task.step, None, str(exc), pruned=True, rungs=rungs)
    except Exception as exc:  # the driver fails the trial with this reason
        return FoldOutcome(task.trial, task.step, None, failure_reason(exc), rungs=rungs)
    record = evaluation.folds[0]
    if job.pack is not None:
        try:
            record.packed = job.pack(record.result.model, record.preprocessor)
        except Exception as exc:  # e.g. a full disk: the trial fails with this reason
            return FoldOutcome(task.trial, task.step, None, failure_reason(exc))
    record.result.model = None
    record.preprocessor = None
    return FoldOutcome(task.trial, task.step, record, rungs=rungs)
