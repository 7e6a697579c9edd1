"""Invalid configurations fail when the operator (or the assigner/trigger/strategy) is built,
with a message naming the problem; durations must be timedelta or int ms."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

import numpy as np
import pytest

import windows
from windows import (
    ContinuousEventTimeTrigger,
    ContinuousProcessingTimeTrigger,
    CountTrigger,
    EventTimeSessionWindows,
    EventTimeTrigger,
    GlobalWindows,
    InvalidDurationError,
    InvalidWindowConfigError,
    NeverTrigger,
    ProcessingTimeSessionWindows,
    ProcessingTimeTrigger,
    PurgingTrigger,
    SchemaError,
    SlidingCountWindows,
    SlidingEventTimeWindows,
    SlidingProcessingTimeWindows,
    SnapshotError,
    TumblingCountWindows,
    TumblingEventTimeWindows,
    TumblingProcessingTimeWindows,
    WatermarkStrategy,
    WindowError,
    WindowOperator,
    to_millis,
)
from windows import aggregates as agg

COUNT = {"n": agg.count()}


class _NoMergeCount(CountTrigger):
    can_merge: ClassVar[bool] = False


@pytest.mark.parametrize(("build", "message"), [
    (lambda: WindowOperator("tumbling", COUNT), "not a window assigner"),  # type: ignore[arg-type]
    (lambda: WindowOperator(TumblingEventTimeWindows.of(10), {}), "at least one aggregate"),
    (lambda: WindowOperator(TumblingEventTimeWindows.of(10)), "at least one aggregate"),
    (lambda: WindowOperator(TumblingCountWindows.of(3), COUNT, trigger=CountTrigger.of(2)),
     "count windows have their own trigger"),
    (lambda: WindowOperator(SlidingCountWindows.of(3, 1), COUNT,
                            trigger=PurgingTrigger.of(CountTrigger.of(2))),
     "count windows have their own trigger"),
    (lambda: WindowOperator(TumblingProcessingTimeWindows.of(10), COUNT, allowed_lateness=5),
     "allowed_lateness applies only to event-time windows"),
    (lambda: WindowOperator(GlobalWindows.create(), COUNT, trigger=CountTrigger.of(2),
                            allowed_lateness=5),
     "allowed_lateness applies only to event-time windows"),
    (lambda: WindowOperator(TumblingCountWindows.of(2), COUNT, allowed_lateness=1),
     "allowed_lateness applies only to event-time windows"),
    (lambda: WindowOperator(TumblingProcessingTimeWindows.of(10), COUNT,
                            trigger=EventTimeTrigger.create()),
     "EventTimeTrigger needs event-time windows"),
    (lambda: WindowOperator(SlidingProcessingTimeWindows.of(10, 5), COUNT,
                            trigger=PurgingTrigger.of(ContinuousEventTimeTrigger.of(2))),
     "ContinuousEventTimeTrigger needs event-time windows"),
    (lambda: WindowOperator(ProcessingTimeSessionWindows.with_gap(10), COUNT,
                            trigger=ContinuousEventTimeTrigger.of(2)),
     "needs event-time windows"),
    (lambda: WindowOperator(GlobalWindows.create(), COUNT), "GlobalWindows never fire"),
    (lambda: WindowOperator(GlobalWindows.create(), COUNT, trigger=NeverTrigger()),
     "GlobalWindows never fire"),
    (lambda: WindowOperator(GlobalWindows.create(), COUNT,
                            trigger=PurgingTrigger.of(NeverTrigger())),
     "GlobalWindows never fire"),
    (lambda: WindowOperator(EventTimeSessionWindows.with_gap(5), COUNT,
                            trigger=_NoMergeCount(2)), "cannot merge"),
    (lambda: WindowOperator(TumblingEventTimeWindows.of(10), COUNT,
                            window_function=lambda k, w, r: {}),  # type: ignore[arg-type]
     "ProcessWindowFunction"),
    (lambda: WindowOperator(TumblingEventTimeWindows.of(10),
                            {"x": lambda rows: 1}),  # type: ignore[dict-item]
     "neither built-in aggregates nor AggregateFunction"),
])
def test_invalid_operator_configuration(build: Any, message: str) -> None:
    with pytest.raises(InvalidWindowConfigError, match=message):
        build()


@pytest.mark.parametrize("name", ["key", "window_start", "window_end", "timing", "timestamp"])
def test_reserved_output_names(name: str) -> None:
    with pytest.raises(InvalidWindowConfigError, match=f"{name!r} is reserved"):
        WindowOperator(TumblingEventTimeWindows.of(10), {name: agg.count()})


def test_valid_combinations_build() -> None:
    # the counterparts of the invalid ones above are accepted
    WindowOperator(TumblingEventTimeWindows.of(10), COUNT, allowed_lateness=5)
    WindowOperator(TumblingProcessingTimeWindows.of(10), COUNT,
                   trigger=ProcessingTimeTrigger.create())
    WindowOperator(TumblingProcessingTimeWindows.of(10), COUNT,
                   trigger=ContinuousProcessingTimeTrigger.of(3))
    WindowOperator(GlobalWindows.create(), COUNT, trigger=PurgingTrigger.of(CountTrigger.of(2)))
    WindowOperator(EventTimeSessionWindows.with_gap(5), COUNT,
                   trigger=ContinuousEventTimeTrigger.of(2))


@pytest.mark.parametrize(("build", "error", "message"), [
    (lambda: TumblingEventTimeWindows.of(0), InvalidDurationError, "window size must be pos"),
    (lambda: TumblingEventTimeWindows.of(-10), InvalidDurationError, "must not be negative"),
    (lambda: TumblingEventTimeWindows.of(10.0), InvalidDurationError, "float"),
    (lambda: TumblingEventTimeWindows.of(True), InvalidDurationError, "bool"),
    (lambda: TumblingEventTimeWindows.of("10s"), InvalidDurationError, "str"),
    (lambda: TumblingEventTimeWindows.of(10, 10), InvalidWindowConfigError, "offset"),
    (lambda: TumblingEventTimeWindows.of(10, -10), InvalidWindowConfigError, "offset"),
    (lambda: TumblingProcessingTimeWindows.of(10, 0.5), InvalidDurationError, "offset"),
    (lambda: SlidingEventTimeWindows.of(10, 0), InvalidDurationError, "slide"),
    (lambda: SlidingEventTimeWindows.of(10, 5, 5), InvalidWindowConfigError, "slide"),
    (lambda: SlidingProcessingTimeWindows.of(10, 2.5), InvalidDurationError, "slide"),
    (lambda: EventTimeSessionWindows.with_gap(0), InvalidDurationError, "session gap"),
    (lambda: EventTimeSessionWindows.with_gap(-1), InvalidDurationError, "session gap"),
    (lambda: ProcessingTimeSessionWindows.with_gap(1.0), InvalidDurationError, "session gap"),
    (lambda: TumblingCountWindows.of(0), InvalidWindowConfigError, "size must be an int >= 1"),
    (lambda: TumblingCountWindows.of(2.0), InvalidWindowConfigError, "int >= 1"),
    (lambda: TumblingCountWindows.of(True), InvalidWindowConfigError, "int >= 1"),
    (lambda: SlidingCountWindows.of(3, 0), InvalidWindowConfigError, "slide must be an int"),
    (lambda: SlidingCountWindows.of(0, 1), InvalidWindowConfigError, "size must be an int"),
    (lambda: CountTrigger.of(0), InvalidWindowConfigError, "count must be an int >= 1"),
    (lambda: CountTrigger.of(1.5), InvalidWindowConfigError, "int >= 1"),
    (lambda: ContinuousEventTimeTrigger.of(0), InvalidDurationError, "trigger interval"),
    (lambda: ContinuousProcessingTimeTrigger.of(0.5), InvalidDurationError, "float"),
    (lambda: PurgingTrigger.of(CountTrigger), InvalidWindowConfigError, "needs a Trigger"),
    (lambda: WatermarkStrategy.for_bounded_out_of_orderness(-1), InvalidDurationError,
     "max_out_of_orderness"),
    (lambda: WatermarkStrategy.for_bounded_out_of_orderness(1.5), InvalidDurationError, "float"),
    (lambda: WatermarkStrategy.no_watermarks().with_idleness(0), InvalidDurationError,
     "idle timeout"),
    (lambda: WindowOperator(TumblingEventTimeWindows.of(10), COUNT, allowed_lateness=-1),
     InvalidDurationError, "allowed_lateness"),
    (lambda: WindowOperator(TumblingEventTimeWindows.of(10), COUNT, allowed_lateness=0.5),
     InvalidDurationError, "allowed_lateness"),
])
def test_invalid_parameters(build: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        build()


def test_to_millis() -> None:
    assert to_millis(dt.timedelta(seconds=1, microseconds=1999)) == 1001
    assert to_millis(dt.timedelta(microseconds=-1500), allow_negative=True) == -1
    assert to_millis(np.int32(7)) == 7
    with pytest.raises(InvalidDurationError, match="out of range"):
        to_millis(2**63)
    with pytest.raises(InvalidDurationError, match="float"):
        to_millis(np.float64(1.0))


def test_exception_tree() -> None:
    for exc in (InvalidWindowConfigError, InvalidDurationError, SnapshotError):
        assert issubclass(exc, WindowError) and issubclass(exc, ValueError)
    assert issubclass(SchemaError, WindowError) and issubclass(SchemaError, KeyError)
    assert str(SchemaError("column 'x' is missing")) == "column 'x' is missing"


def test_runtime_errors_change_no_state() -> None:
    op = WindowOperator(TumblingEventTimeWindows.of(10), {"s": agg.sum("v")}, key="k")
    with pytest.raises(SchemaError):
        op.process({"k": np.array(["a"])}, timestamps=np.array([1]), watermarks=np.array([50]))
    assert op.current_watermark == windows.MIN_TIMESTAMP and op.num_live_windows == 0
