"""cepkit inside faust-streaming agents: patterns, MATCH_RECOGNIZE rules and event-time
windows over a faust stream, with per-partition state that survives worker restarts.

- :mod:`connectors.faust.stages`: what runs (:func:`pattern_stage`, :func:`rule_stage`,
  :func:`window_stage`).
- :mod:`connectors.faust.processor`: :class:`FaustProcessor` (micro-batches, decoding, dead
  letters, watermarks per partition, checkpoints, restore) and its :class:`Output` rows.
- :mod:`connectors.faust.checkpoints`: where the state goes (checkpoint topic + pointer
  group).

Nothing here imports faust or aiokafka: the processor works on the app, stream and event
objects it is given (install the ``faust`` extra to run an app). ``import connectors`` does
not import this package.
"""

from connectors.faust.processor import DEAD_LETTER_HEADERS, FaustProcessor, FaustStats, Output
from connectors.faust.stages import Stage, pattern_stage, rule_stage, window_stage

__all__ = ["DEAD_LETTER_HEADERS", "FaustProcessor", "FaustStats", "Output", "Stage",
           "pattern_stage", "rule_stage", "window_stage"]
