"""The validation-rule ``logic`` language: parser (core.logic) and its use by each engine."""

from __future__ import annotations

import pytest
from unit_helpers import amount_off, customer, defs, item, order, reds, rule, run, voucher, vrule

from core import logic
from core.errors import CompileError

# ----------------------------------------------------------------------------- parser


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("1", ("ref", "1")),
        ("1 or 2 and 3", ("or", ("ref", "1"), ("and", ("ref", "2"), ("ref", "3")))),
        ("1 and 2 or 3", ("or", ("and", ("ref", "1"), ("ref", "2")), ("ref", "3"))),
        ("(1 or 2) and 3", ("and", ("or", ("ref", "1"), ("ref", "2")), ("ref", "3"))),
        ("not 1 and 2", ("and", ("not", ("ref", "1")), ("ref", "2"))),
        ("not (1 and 2)", ("not", ("and", ("ref", "1"), ("ref", "2")))),
        ("not not 1", ("not", ("not", ("ref", "1")))),
        ("1 AND 2 Or NOT 3", ("or", ("and", ("ref", "1"), ("ref", "2")), ("not", ("ref", "3")))),
        ("((((1))))", ("ref", "1")),
        ("01 and 2", ("and", ("ref", "1"), ("ref", "2"))),
        ("1 and 2 and 3", ("and", ("ref", "1"), ("ref", "2"), ("ref", "3"))),
        ("  1\tand\n2  ", ("and", ("ref", "1"), ("ref", "2"))),
    ],
)
def test_parse_precedence_and_case(text: str, tree: tuple) -> None:
    assert logic.parse(text) == tree


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1 and", "unexpected end of expression"),
        ("(1", "unexpected end of expression"),
        ("1)", "unexpected ')' after a complete expression"),
        ("1 2", "unexpected '2' after a complete expression"),
        ("__import__('os')", "unexpected character '_'"),
        ("1 xor 2", "unknown word 'xor'"),
        ("1 and eval", "unknown word 'eval'"),
        ("", "empty expression"),
        ("   ", "empty expression"),
        ("and 1", "unexpected 'and'"),
        ("()", "unexpected ')'"),
        ("1 ; 2", "unexpected character ';'"),
        ("(" * 70 + "1" + ")" * 70, "nested deeper than 64 levels"),
        ("not " * 70 + "1", "nested deeper than 64 levels"),
        ("1 or " * 600 + "1", "longer than 2000 characters"),
    ],
)
def test_parse_rejects_garbage_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(SyntaxError) as exc:
        logic.parse(text)
    assert reason in str(exc.value)


def test_parse_just_below_depth_limit_is_fine() -> None:
    assert logic.parse("(" * 63 + "1" + ")" * 63) == ("ref", "1")


def test_rpn_and_refs() -> None:
    node = logic.parse("(1 and 2) or not 3")
    assert logic.refs(node) == ["1", "2", "3"]
    slots = {"1": 0, "2": 1, "3": 2}
    assert logic.to_rpn(node, slots) == [0, 1, logic.OP_AND, 2, logic.OP_NOT, logic.OP_OR]
    assert logic.to_rpn(node, slots, frozenset({"2"})) == [
        0, logic.OP_TRUE, logic.OP_AND, 2, logic.OP_NOT, logic.OP_OR,
    ]  # fmt: skip


def test_compile_logic_defaults_to_and_of_all_rules_in_numeric_order() -> None:
    assert logic.compile_logic(None, ["10", "2", "1"], "p") == (
        "and", ("ref", "1"), ("ref", "2"), ("ref", "10"),
    )  # fmt: skip
    assert logic.compile_logic(None, ["3"], "p") == ("ref", "3")
    assert logic.compile_logic(None, [], "p") == ("and",)


def test_rule_numbers_are_numbers_whatever_their_leading_zeros() -> None:
    """A rule keyed ``"00"`` is rule 0 (found by the OpenAPI fuzzer: without ``logic`` its ref
    kept the key as written and compiling failed with a KeyError, a 500 in admin)."""
    assert logic.compile_logic(None, ["00"], "p") == ("ref", "0")
    assert logic.compile_logic(None, ["02", "1"], "p") == ("and", ("ref", "1"), ("ref", "2"))
    with pytest.raises(CompileError) as exc:
        logic.compile_logic(None, ["1", "01"], "validation_rules[0].rules.logic")
    assert exc.value.path == "validation_rules[0].rules"
    assert "'1' and '01' are both rule 1" in exc.value.reason


def test_compile_logic_errors_name_the_path() -> None:
    with pytest.raises(CompileError) as exc:
        logic.compile_logic("1 and 4", ["1", "2"], "validation_rules[0].rules.logic")
    assert exc.value.path == "validation_rules[0].rules.logic"
    assert "refers to rule 4, which is not defined" in exc.value.reason
    with pytest.raises(CompileError) as exc:
        logic.compile_logic("1 and", ["1"], "x.rules.logic")
    assert "invalid logic '1 and'" in exc.value.reason
    assert "unexpected end of expression" in str(exc.value)


# ----------------------------------------------------------------------------- through the engines

_META = "customer.metadata"


def _defs(logic_text: str | None) -> object:
    rules = [
        rule(_META, "$is", "gold", prop="tier"),  # 1
        rule(_META, "$is", "FR", prop="country"),  # 2
        rule(_META, "$is", True, prop="vip"),  # 3
    ]
    return defs(
        vouchers=[voucher("CODE", amount_off(100), validation_rules=["r"])],
        rules=[vrule("r", *rules, logic=logic_text)],
    )


def _applies(engine, logic_text: str | None, **md: object) -> bool:
    ev = run(engine, _defs(logic_text), reds("CODE"), order(item("a", 1000)), customer(metadata=md))
    return ev.outcomes[0].status == "APPLICABLE"


@pytest.mark.parametrize(
    ("text", "md", "expected"),
    [
        # `1 or 2 and 3` is `1 or (2 and 3)`
        ("1 or 2 and 3", {"tier": "gold"}, True),
        ("1 or 2 and 3", {"country": "FR"}, False),
        ("1 or 2 and 3", {"country": "FR", "vip": True}, True),
        ("(1 or 2) and 3", {"tier": "gold"}, False),
        ("(1 or 2) and 3", {"country": "FR", "vip": True}, True),
        ("not 1", {"tier": "gold"}, False),
        ("not 1", {"tier": "silver"}, True),
        ("NOT 1 AND 2", {"country": "FR"}, True),
        ("not (1 and 2)", {"tier": "gold", "country": "FR"}, False),
        (None, {"tier": "gold", "country": "FR"}, False),  # default AND of 1, 2, 3
        (None, {"tier": "gold", "country": "FR", "vip": True}, True),
    ],
)
def test_logic_drives_eligibility(engine, text, md, expected) -> None:
    assert _applies(engine, text, **md) is expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1 and", "invalid logic '1 and'"),
        ("(1", "invalid logic '(1'"),
        ("1 2", "invalid logic '1 2'"),
        ("__import__", "invalid logic '__import__'"),
        ("(" * 80 + "1" + ")" * 80, "nested deeper than 64 levels"),
        ("1 and 9", "refers to rule 9, which is not defined"),
    ],
)
def test_bad_logic_is_a_compile_error(engine, text: str, reason: str) -> None:
    with pytest.raises(CompileError) as exc:
        engine.compile_ruleset(_defs(text))
    assert exc.value.path == "validation_rules[0].rules.logic"
    assert reason in exc.value.reason


def test_rules_keyed_with_leading_zeros_compile_and_count(engine) -> None:
    d = _defs(None)
    vr = d.validation_rules[0]
    vr.rules = {"0" + k: v for k, v in vr.rules.items()}  # "01", "02", "03"
    ev = run(engine, d, reds("CODE"), order(item("a", 1000)), customer(metadata={"tier": "gold"}))
    assert ev.outcomes[0].status == "INAPPLICABLE"  # rules 2 and 3 do not hold
    md = {"tier": "gold", "country": "FR", "vip": True}
    ev = run(engine, d, reds("CODE"), order(item("a", 1000)), customer(metadata=md))
    assert ev.outcomes[0].status == "APPLICABLE"


def test_rule_without_conditions_always_holds(engine) -> None:
    d = defs(vouchers=[voucher("CODE", amount_off(100), validation_rules=["r"])], rules=[vrule("r")])
    ev = run(engine, d, reds("CODE"), order(item("a", 1000)))
    assert ev.outcomes[0].status == "APPLICABLE"
    assert ev.discount_amount == 100


def _failing_message(engine, logic_text: str, md: dict[str, object]) -> str | None:
    rules = [
        rule(_META, "$is", "gold", prop="tier", error="c1"),
        rule(_META, "$is", "FR", prop="country", error="c2"),
        rule(_META, "$is", True, prop="vip", error="c3"),
    ]
    d = defs(vouchers=[voucher("CODE", amount_off(100), validation_rules=["r"])],
             rules=[vrule("r", *rules, logic=logic_text, error="whole rule")])  # fmt: skip
    o = run(engine, d, reds("CODE"), order(item("a", 1000)), customer(metadata=md)).outcomes[0]
    return None if o.status == "APPLICABLE" else o.message


@pytest.mark.parametrize(
    "text",
    ["1 and 2 and 3", "3 and 1 and 2", "1 or 2 or 3", "2 or 3 or 1", "1 and 2", "1 or 2",
     "1 and 1 and 2", "(1 and 2) or 3", "1 and (2 or 3)", "not 1 and 2 and 3", "1"],
)  # fmt: skip
def test_a_rule_fails_on_its_first_false_condition_whatever_its_junction(engine, text: str) -> None:
    """A rule joined by `and` only or `or` only is judged without the postfix machine (a fast
    path); what fails is the same as for any other logic: the first false condition in number
    order, or the rule itself when every condition holds but the logic does not."""
    import itertools

    for tier, country, vip in itertools.product((True, False), repeat=3):
        md = {"tier": "gold" if tier else "x", "country": "FR" if country else "x", "vip": vip}
        truth = {"1": tier, "2": country, "3": vip}
        py = text.replace("1", "t1").replace("2", "t2").replace("3", "t3")
        holds = eval(py, {}, {"t1": tier, "t2": country, "t3": vip})  # noqa: S307 (our own texts)
        want = None
        if not holds:
            false = [n for n in ("1", "2", "3") if not truth[n]]
            want = "c" + false[0] if false else "whole rule"
        assert _failing_message(engine, text, md) == want, (text, md)
