"""Exceptions raised by the MATCH_RECOGNIZE front end (:mod:`cep.sql`).

Exception tree::

    CepError                                   (cep.errors)
    └── RuleError (ValueError)                 one problem in a rule file, with its position:
        │                                      a syntax error, an unknown pattern variable or
        │                                      column, a type mismatch, a construct cepkit does
        │                                      not support, a pattern the Pattern API refuses
        └── RuleErrors                         several problems found in one text (``errors``
                                               lists them; ``str()`` shows them one a line)

``str(RuleError)`` is ``"{source}:{line}:{column}: rule '{rule}': {message}"`` with 1-based line
and column, as compilers print them.
"""

from __future__ import annotations

from collections.abc import Sequence

from cep.errors import CepError

__all__ = ["RuleError", "RuleErrors"]


class RuleError(CepError, ValueError):
    """A problem in a MATCH_RECOGNIZE rule, with its position.

    Attributes
    ----------
    source : str
        File path, or ``"<string>"``.
    line, column : int
        1-based position of the offending text.
    rule : str
        Name of the rule (see :class:`cep.sql.Rule`).
    message : str
        What is wrong.
    """

    def __init__(self, message: str, *, source: str = "<string>", line: int = 1,
                 column: int = 1, rule: str = "") -> None:
        self.source = source
        self.line = line
        self.column = column
        self.rule = rule
        self.message = message
        super().__init__(self._text())

    def _text(self) -> str:
        return f"{self.source}:{self.line}:{self.column}: rule '{self.rule}': {self.message}"

    def __str__(self) -> str:
        return self._text()

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (_rebuild, (self.message, self.source, self.line, self.column, self.rule))


def _rebuild(message: str, source: str, line: int, column: int, rule: str) -> RuleError:
    return RuleError(message, source=source, line=line, column=column, rule=rule)


class RuleErrors(RuleError):
    """Several :class:`RuleError` found in one text; the position fields are those of the
    first one.

    Attributes
    ----------
    errors : list of RuleError
        Every error, in text order.
    """

    def __init__(self, errors: Sequence[RuleError]) -> None:
        if not errors:
            raise ValueError("RuleErrors needs at least one error")
        self.errors = list(errors)
        first = self.errors[0]
        super().__init__(first.message, source=first.source, line=first.line,
                         column=first.column, rule=first.rule)

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (RuleErrors, (self.errors,))
