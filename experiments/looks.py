"""Every look at a fine-tuning setting's test results, in the order they were seen, and the correction for them.

A setting whose test results were seen and then fine-tuned again (more seeds, another model, other fine-tuning
settings) has been looked at more than once: each look is another chance to find a gain by luck. The reports list
these looks beside each verdict and widen its interval by Bonferroni over them: the m-th look at a setting is judged
with a (1 - 0.05/m) interval, m counting every look up to and including the grid's own. A grid's pre-registration
(`experiments/preregistration/`) names what it will look at before it runs; a new grid adds its looks here before
its results are seen.
"""

from __future__ import annotations

from typing import NamedTuple

LEVEL = 0.95  # the family-wise confidence every verdict keeps


class Look(NamedTuple):
    setting: str  # a FinetuneSetting key, e.g. "ag_news-1000"
    grid: str
    what: str  # what was compared, and what was added since the previous look
    commit: str  # the commit that first holds these results


_RECIPE_SETTINGS = ("ag_news-1000", "dbpedia_14-100", "fewrel-630", "ag_news-32", "dbpedia_14-32", "fewrel-32")

LOOKS: tuple[Look, ...] = (
    *(Look(s, "recipe", "the 60-minute model against its twin and TF-IDF, seeds 0-2", "3bd0d9b")
      for s in _RECIPE_SETTINGS),
    *(Look(s, "recipe", "seeds 3 and 4 added after seeds 0-2 had been seen", "ed8c025") for s in _RECIPE_SETTINGS),
    Look("ag_news-1000", "recipe-headline", "the 60-minute model pre-trained again, 10 seeds, and a learning-rate "
         "search chosen on validation", "79654a8"),
    Look("ag_news-1000", "recipe-ft-dropout", "the 60-minute model again, fine-tuned with dropout 0.1 on both sides",
         "dea82b4"),
    Look("ag_news-1000", "tapt", "the ALiBi recipe model at 8,000 steps, more Wikipedia steps and task-adaptive "
         "pre-training, 5 seeds", "f3e0396"),
    Look("dbpedia_14-100", "tapt", "the ALiBi recipe model at 8,000 steps, more Wikipedia steps and task-adaptive "
         "pre-training, 5 seeds", "(not yet run)"),
    Look("ag_news-1000", "tapt-runs", "two more independent pre-training runs of the tapt grid's base and "
         "task-adaptive models, 5 seeds each", "b137048"),
)


def looks_at(setting: str, grid: str | None = None) -> list[Look]:
    """The looks at `setting`, in order, up to and including `grid`'s last (all of them when `grid` is None)."""
    looks = [look for look in LOOKS if look.setting == setting]
    if grid is None:
        return looks
    last = max((i for i, look in enumerate(looks) if look.grid == grid), default=None)
    if last is None:
        raise ValueError(f"grid {grid!r} has no look at {setting!r} in experiments/looks.py; add it before its "
                         "results are read")
    return looks[:last + 1]


def corrected_level(setting: str, grid: str) -> tuple[float, int]:
    """(confidence level, m): Bonferroni over the m looks at `setting` up to `grid`'s."""
    m = len(looks_at(setting, grid))
    return 1 - (1 - LEVEL) / m, m
