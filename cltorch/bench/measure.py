"""How a benchmark measures: every (case, target) is built once and timed once cold (its first
call: kernels rendered and compiled, plans made; a compiled target's first two calls, up to its
capture), then warmed up, then timed in interleaved
rounds (A B C A B C ...) so that a change in the machine's load hits every target alike. A
sample repeats the call enough times to last about ``SAMPLE_S`` and ends with the target's
synchronisation; the figure is the median over rounds, with the quartiles and extremes."""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

SAMPLE_S = 0.01   # a sample lasts at least this long (short calls are repeated)
MAX_REPEAT = 1000
SLOW_S = 0.25     # a call this slow is warmed up once and timed in at most SLOW_ROUNDS rounds
SLOW_ROUNDS = 3


@dataclass
class Measured:
    """The per-call seconds of one case on one target."""

    case: object
    target: object
    cold_s: float
    repeat: int = 1
    samples: list = field(default_factory=list)
    error: str = ""
    max_rounds: int = 0   # 0: every round

    def stats(self) -> dict:
        if not self.samples:
            return {}
        s = sorted(self.samples)
        q1, median, q3 = statistics.quantiles(s, n=4) if len(s) > 1 else (s[0],) * 3
        return {"median_s": statistics.median(s), "q1_s": q1, "q3_s": q3, "min_s": s[0],
                "max_s": s[-1], "rounds": len(s), "repeat": self.repeat}


def _timed(fn, sync, repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    sync()
    return (time.perf_counter() - start) / repeat


def prepare(case, target) -> tuple:
    """(call, Measured) after the cold call and the warm-up; call is None if it failed or
    the target does not run the case."""
    call = None
    try:
        call = None if target.compiled and not case.compiles else case.build(target)
        if call is None:
            return None, None
        cold = _timed(call, target.sync, 1)
        if target.compiled:  # cltorch.compile runs a first call eagerly, captures the second:
            cold += _timed(call, target.sync, 1)  # cold is the time before replays
        once = _timed(call, target.sync, 1)  # warm-up
        if once < SLOW_S:
            once = min(once, _timed(call, target.sync, 1))
        repeat = max(1, min(MAX_REPEAT, int(SAMPLE_S / max(once, 1e-9))))
        return call, Measured(case, target, cold, repeat,
                              max_rounds=SLOW_ROUNDS if once >= SLOW_S else 0)
    except Exception as err:  # a failing target is reported, not fatal for the run
        return None, Measured(case, target, 0.0, error=f"{type(err).__name__}: {err}")


def interleaved(pairs, rounds: int, progress=None) -> list:
    """Measure every prepared (call, Measured) over ``rounds`` interleaved rounds."""
    live = [(call, m) for call, m in pairs if call is not None]
    for _ in range(rounds):
        for call, m in live:
            if m.max_rounds and len(m.samples) >= m.max_rounds:
                continue
            try:
                m.samples.append(_timed(call, m.target.sync, m.repeat))
            except Exception as err:
                m.error = f"{type(err).__name__}: {err}"
            if progress is not None:
                progress.update(1)
    return [m for _, m in pairs if m is not None]
