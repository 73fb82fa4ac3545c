"""How a model's inputs are encoded: the typed form of an artifact's or checkpoint's `encoding`.

`Encoding.from_meta` is the one reader of that JSON object and refuses anything malformed with a
`ValueError` naming the field; `to_meta` is the one writer.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from sim.artifact import MAX_INPUT_COUNT, MAX_STEPS

DATASETS = ("digits", "mnist", "event-mnist")
CODES = ("rate", "latency")  # image codes; event-mnist is recorded as events ("events")


@dataclass(frozen=True)
class Encoding:
    """dataset: which data; code: "rate" | "latency" for images, "events" for event-mnist;
    steps: time steps T; seed: of the rate code (sample i's spikes come from (seed, i));
    max_count: events per input per step the counts are clipped at (event data);
    sim: parameters of the event-camera simulation (event-mnist only)."""

    dataset: str
    steps: int
    code: str = "rate"
    seed: int = 0
    max_count: int = 1
    sim: dict | None = None

    def __post_init__(self):
        def fail(name, why):
            raise ValueError(f"encoding.{name}: {why}, got {getattr(self, name)!r}")

        if self.dataset not in DATASETS:
            fail("dataset", f"must be one of {', '.join(DATASETS)}")
        if self.code not in (("events",) if self.dataset == "event-mnist" else CODES):
            fail("code", f"{self.dataset} takes " + ("events" if self.dataset == "event-mnist" else " or ".join(CODES)))
        for name, lo, hi in (("steps", 1, MAX_STEPS), ("seed", 0, 2 ** 63 - 1), ("max_count", 1, MAX_INPUT_COUNT)):
            value = getattr(self, name)
            if type(value) is not int or not lo <= value <= hi:  # bool is not a count
                fail(name, f"must be an integer in {lo}..{hi}")
        if self.sim is not None:
            if self.dataset != "event-mnist":
                fail("sim", "only event-mnist is simulated")
            if not isinstance(self.sim, dict) or not all(
                    isinstance(k, str) and type(v) in (int, float) and math.isfinite(v) for k, v in self.sim.items()):
                fail("sim", "must map parameter names to finite numbers")

    @classmethod
    def from_meta(cls, meta) -> "Encoding":
        """The encoding a JSON object describes; unknown or missing fields are refused."""
        if not isinstance(meta, dict):
            raise ValueError(f"encoding: expected a JSON object, got {type(meta).__name__}")
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(str(k) for k in meta if k not in fields)
        if unknown:
            raise ValueError(f"encoding: unknown field(s) {', '.join(unknown)}")
        for name in ("dataset", "steps"):
            if meta.get(name) is None:
                raise ValueError(f"encoding.{name}: missing")
        return cls(**meta)

    def to_meta(self) -> dict:
        meta = dataclasses.asdict(self)
        if self.sim is None:
            del meta["sim"]
        return meta

    def replace(self, **changes) -> "Encoding":
        return dataclasses.replace(self, **changes)
