"""SQL:2016 ``MATCH_RECOGNIZE`` front end: declarative rules compiled to :class:`cep.Pattern`.

A rule file holds ``SELECT ... FROM <table> MATCH_RECOGNIZE (...)`` statements with Flink SQL
semantics; :func:`compile_rules` turns each into a :class:`Rule` (its pattern runs on the same NFA
and engines as hand-written patterns; its :meth:`Rule.measures` computes the output rows from the
matches). See ``docs/match-recognize.md``.
"""

from cep.sql.compiler import check_rules, compile_expression, compile_rule_file, compile_rules
from cep.sql.errors import RuleError, RuleErrors
from cep.sql.rule import Rule

__all__ = [
    "Rule",
    "RuleError",
    "RuleErrors",
    "check_rules",
    "compile_expression",
    "compile_rule_file",
    "compile_rules",
]
