"""Parser for validation-rule ``logic`` strings such as ``"(1 and 2) or not 3"``.

Grammar (``not`` binds tighter than ``and``, which binds tighter than ``or``)::

    expr   := term ("or" term)*
    term   := factor ("and" factor)*
    factor := "not" factor | "(" expr ")" | NUMBER

Keywords are case-insensitive. The result is a tree of tuples:
``("ref", "1")``, ``("not", x)``, ``("and", a, b, ...)``, ``("or", a, b, ...)``.
``to_rpn`` flattens a tree into the postfix program the evaluator runs.
Nothing here ever calls ``eval``.
"""

from __future__ import annotations

import re

from .errors import CompileError

_TOKEN = re.compile(r"\s*(?:(\d+)|(\()|(\))|([A-Za-z]+)|(\S))")
MAX_LENGTH = 2000
MAX_DEPTH = 64

#: opcodes of the postfix program (non-negative numbers are rule slots)
OP_AND = -1
OP_OR = -2
OP_NOT = -3
OP_TRUE = -4

Node = tuple


def tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:  # only trailing whitespace can fail to match
            break
        num, lp, rp, word, other = m.groups()
        if other is not None:
            raise SyntaxError(f"unexpected character {other!r} at position {m.start(5)}")
        if word is not None:
            w = word.lower()
            if w not in ("and", "or", "not"):
                raise SyntaxError(f"unknown word {word!r} at position {m.start(4)}")
            tokens.append(w)
        else:
            tokens.append(num or lp or rp)
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise SyntaxError("unexpected end of expression")
        self.pos += 1
        return tok

    def expr(self) -> Node:
        parts = [self.term()]
        while self.peek() == "or":
            self.take()
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else ("or", *parts)

    def term(self) -> Node:
        parts = [self.factor()]
        while self.peek() == "and":
            self.take()
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else ("and", *parts)

    def factor(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise SyntaxError(f"nested deeper than {MAX_DEPTH} levels")
        try:
            tok = self.take()
            if tok == "not":
                return ("not", self.factor())
            if tok == "(":
                node = self.expr()
                if self.take() != ")":
                    raise SyntaxError("expected `)`")
                return node
            if tok.isdigit():
                return ("ref", str(int(tok)))
            raise SyntaxError(f"unexpected {tok!r}")
        finally:
            self.depth -= 1


def parse(text: str) -> Node:
    """Parse a logic string; raise ``SyntaxError`` with a readable reason on garbage."""
    if len(text) > MAX_LENGTH:
        raise SyntaxError(f"longer than {MAX_LENGTH} characters")
    tokens = tokenize(text)
    if not tokens:
        raise SyntaxError("empty expression")
    p = _Parser(tokens)
    node = p.expr()
    if p.peek() is not None:
        raise SyntaxError(f"unexpected {p.peek()!r} after a complete expression")
    return node


def refs(node: Node) -> list[str]:
    """Rule numbers a tree refers to, in order of first appearance."""
    out: list[str] = []
    stack = [node]
    while stack:
        n = stack.pop()
        if n[0] == "ref":
            if n[1] not in out:
                out.append(n[1])
        else:
            stack.extend(reversed(n[1:]))
    return out


def conjuncts(node: Node) -> list[Node]:
    """The top-level ``and`` operands (the node itself when it is not an ``and``)."""
    return list(node[1:]) if node[0] == "and" else [node]


def to_rpn(node: Node, slot: dict[str, int], true_refs: frozenset[str] = frozenset()) -> list[int]:
    """Postfix program: rule slots and ``OP_*`` codes. Refs in ``true_refs`` become ``OP_TRUE``."""
    out: list[int] = []

    def emit(n: Node) -> None:
        kind = n[0]
        if kind == "ref":
            out.append(OP_TRUE if n[1] in true_refs else slot[n[1]])
        elif kind == "not":
            emit(n[1])
            out.append(OP_NOT)
        else:
            emit(n[1])
            op = OP_AND if kind == "and" else OP_OR
            for child in n[2:]:
                emit(child)
                out.append(op)

    emit(node)
    return out


def compile_logic(text: str | None, numbers: list[str], path: str) -> Node:
    """Parse ``text`` (or AND all ``numbers`` when it is None) and check every ref exists.

    Refs are rule numbers as ``str(int(key))`` (the rule ``"01"`` is rule 1, as the evaluator's
    slots name it); two keys of one number (``"1"`` and ``"01"``) are refused."""
    seen: dict[str, str] = {}
    for n in numbers:
        ref = str(int(n))
        if ref in seen:
            raise CompileError(
                path.rsplit(".", 1)[0], f"rules {seen[ref]!r} and {n!r} are both rule {ref}"
            )
        seen[ref] = n
    if text is None:
        if not numbers:
            return ("and",)
        nodes = [("ref", str(int(n))) for n in sorted(numbers, key=int)]
        return nodes[0] if len(nodes) == 1 else ("and", *nodes)
    try:
        node = parse(text)
    except SyntaxError as exc:
        raise CompileError(path, f"invalid logic {text!r}: {exc.msg if hasattr(exc, 'msg') else exc}") from None
    known = {str(int(n)) for n in numbers}
    for r in refs(node):
        if r not in known:
            raise CompileError(path, f"logic {text!r} refers to rule {r}, which is not defined")
    return node
