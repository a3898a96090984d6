"""The one shape every deployment's answer is turned into, so targets can be compared."""
from __future__ import annotations

from dataclasses import dataclass

POSITIVE_CLASS = ">50K"
NEGATIVE_CLASS = "<=50K"


@dataclass(frozen=True)
class Prediction:
    """One record's prediction: the label and the probability of income >50K."""

    label: str
    probability: float

    @classmethod
    def from_probability(cls, probability: float, threshold: float = 0.5) -> "Prediction":
        return cls(POSITIVE_CLASS if probability >= threshold else NEGATIVE_CLASS, float(probability))
