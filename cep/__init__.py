"""cepkit pattern layer: complex event processing with Apache Flink CEP semantics.

Define a pattern with the immutable :class:`Pattern` builder (conditions from :func:`col`
expressions or :class:`Condition`), compile it with :func:`compile_pattern` (or let the
operator do it) and run it per key over columnar micro-batches with :class:`CepOperator`.
:mod:`cep.testing` has a harness for tests.
"""

from cep.compiler import compile_pattern
from cep.conditions import TRUE, Condition, ConditionContext
from cep.errors import (
    CepError,
    CepSchemaError,
    CepSnapshotError,
    ConditionError,
    EngineUnavailableError,
    MalformedPatternError,
    SkipToElementError,
)
from cep.expr import (
    Expr,
    col,
    lit,
    match_avg,
    match_count,
    match_first,
    match_last,
    match_max,
    match_min,
    match_sum,
)
from cep.nfa import NFA
from cep.operator import CepOperator
from cep.outputs import CepOutput, LateEvents, Match, MatchTable, TimedOutMatch
from cep.pattern import Pattern, Stage, WithinType
from cep.quantifiers import Contiguity, Quantifier
from cep.skip import AfterMatchSkipStrategy

__all__ = [
    "NFA",
    "TRUE",
    "AfterMatchSkipStrategy",
    "CepError",
    "CepOperator",
    "CepOutput",
    "CepSchemaError",
    "CepSnapshotError",
    "Condition",
    "ConditionContext",
    "ConditionError",
    "Contiguity",
    "EngineUnavailableError",
    "Expr",
    "LateEvents",
    "MalformedPatternError",
    "Match",
    "MatchTable",
    "Pattern",
    "Quantifier",
    "SkipToElementError",
    "Stage",
    "TimedOutMatch",
    "WithinType",
    "col",
    "compile_pattern",
    "lit",
    "match_avg",
    "match_count",
    "match_first",
    "match_last",
    "match_max",
    "match_min",
    "match_sum",
]
