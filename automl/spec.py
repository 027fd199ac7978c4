"""The ModelSpec: one network and how to train it, as plain data that any backend understands."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to build and train one network: plain, JSON-serialisable data."""

    hidden_units: tuple[int, ...]
    activation: str = "relu"
    initializer: str = "glorot_uniform"
    batch_norm: bool = False
    dropout: float = 0.0
    input_dropout: float = 0.0
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    batch_size: int = 128
    transform: str = "none"
    lr_schedule: str = "constant"

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (lists, numbers, strings)."""
        data = asdict(self)
        data["hidden_units"] = list(self.hidden_units)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(**{**data, "hidden_units": tuple(data["hidden_units"])})

    def to_json(self) -> str:
        """The spec as a JSON string."""
        return json.dumps(self.to_dict(), sort_keys=True)

    def describe(self) -> str:
        """One readable cell, e.g. ``log1p in0.2 200-50 relu he_normal bn drop0.1 adam lr3e-3``.

        The feature transform and the input dropout (``in0.2``) lead when there are any; the
        batch size (``bs512``) and the schedule end it.
        """
        words = [] if self.transform == "none" else [self.transform]
        if self.input_dropout > 0:
            words.append(f"in{self.input_dropout:.2g}")
        words += ["-".join(str(u) for u in self.hidden_units), self.activation, self.initializer]
        if self.batch_norm:
            words.append("bn")
        if self.dropout > 0:
            words.append(f"drop{self.dropout:.2g}")
        words += [
            self.optimizer,
            f"lr{self.learning_rate:.0e}".replace("e-0", "e-"),
            f"bs{self.batch_size}",
        ]
        if self.lr_schedule != "constant":
            words.append(self.lr_schedule)
        return " ".join(words)
