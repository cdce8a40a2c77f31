"""The campaign editor (admin/ui/editor.py) over plain HTTP with a signed-in session: every
section is checked by the server (a dry run of the very API calls the form stands for), a
refusal is shown beside the field the API names and writes nothing, a good form makes the same
campaign its "API equivalent" JSON makes through the API (disabled), an edit sends only what
changed, a rule set the builder cannot draw round-trips through the JSON editor unchanged, and
a support agent is neither offered the editor nor able to use it."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
from ui_session import close_clients
from ui_session import csrf as _csrf
from ui_session import sign_in as _sign_in

from admin.testing import AdminServer

UNDRAWABLE = {
    "name": "VIP or big basket",
    "rules": {
        "1": {"name": "customer.metadata", "property": "tier", "conditions": {"$starts_with": ["gold"]}},
        "2": {"name": "order.items.any", "conditions": {"$in": ["prod_hat", "prod_cap"]},
              "rules": {"1": {"name": "order.items.quantity", "conditions": {"$more_than_or_equal": [2]}}}},
        "logic": "1 or 2",
    },
    "applicable_to": {"included": [{"object": "product", "id": "prod_hat", "effect": "APPLY_TO_EVERY"}]},
    "error": {"message": "Only for gold members or two hats"},
}  # fmt: skip


@pytest.fixture
def srv(redis_url: str, key_prefix: str) -> Iterator[AdminServer]:
    with AdminServer(redis_url, key_prefix) as s:
        try:
            yield s
        finally:
            close_clients()


class _Form(HTMLParser):
    """The editor form's values as a browser would post them."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self._in = False
        self._select: str | None = None
        self._area: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("id") == "editor-form":
            self._in = True
        if not self._in:
            return
        if tag == "input" and a.get("name") and (a.get("type") != "checkbox" or "checked" in a):
            self.values[a["name"]] = a.get("value", "")
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and self._select and "selected" in a:
            self.values[self._select] = a.get("value", "")
        elif tag == "textarea":
            self._area = a["name"]
            self.values[self._area] = ""

    def handle_data(self, data: str) -> None:
        if self._area:
            self.values[self._area] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._area = None


def _form(page: str) -> dict[str, str]:
    p = _Form()
    p.feed(page)
    return p.values


def _api_equivalent(page: str) -> list[dict[str, Any]]:
    m = re.search(r'<pre id="api-equivalent">(.*?)</pre>', page, re.S)
    assert m, page[:3000]
    return json.loads(html.unescape(m.group(1)))


def _field_error(page: str, field: str) -> str:
    """The error shown beside ``field`` (the input is marked invalid and points at it)."""
    tag = re.search(rf'<(?:input|select|textarea)[^>]*id="f-{field}"[^>]*>', page)
    assert tag, f"no field {field}"
    assert 'aria-invalid="true"' in tag.group(0) and f'aria-describedby="err-{field}' in tag.group(0)
    err = re.search(rf'<p class="field-error" id="err-{field}">(.*?)</p>', page, re.S)
    assert err, f"no error beside {field}"
    return html.unescape(err.group(1))


def _coupon_form(c: httpx.Client, **change: str) -> dict[str, str]:
    form = _form(c.get("/campaigns/new").text)
    form.update({"name": "Spring coupons", "vouchers_count": "1000", "code_prefix": "SPR-",
                 "discount_type": "AMOUNT", "discount_amount_off": "5.00",
                 "redemption_quantity": "1", "limit_discounted_amount": "2500.00",
                 "rule_min_amount": "50", "metadata": '{"channel": "web"}'})  # fmt: skip
    form.update(change)
    return form


def _campaigns(srv: AdminServer) -> list[dict[str, Any]]:
    return srv.request("GET", "/v1/campaigns?limit=100").json()["campaigns"]


def _audit_len(srv: AdminServer) -> int:
    return len(srv.request("GET", "/v1/audit-log?limit=100").json().get("data", []))


def test_a_refused_field_is_shown_beside_it_and_nothing_is_written(srv: AdminServer) -> None:
    c = _sign_in(srv)
    form = _coupon_form(c, discount_amount_off="-5")
    r = c.post("/campaigns/new/check", data=form, headers={"HX-Request": "true"})
    assert r.status_code == 200 and "<html" not in r.text  # the form alone, swapped by htmx
    assert "amount_off" in _field_error(r.text, "discount_amount_off")
    assert 'role="alert"' in r.text and 'href="#f-discount_amount_off"' in r.text
    # the page's own parsing: an amount it cannot read is named beside its field too
    bad = c.post("/campaigns/new/check", data={**form, "discount_amount_off": "five"})
    assert "is not an amount" in _field_error(bad.text, "discount_amount_off")
    # a code config too small for the count: beside the count, with the server's figures
    small = c.post("/campaigns/new/check", data={**form, "discount_amount_off": "5",
                                                 "code_length": "2", "code_charset": "AB"})  # fmt: skip
    assert "can make 4 distinct codes" in _field_error(small.text, "vouchers_count")
    # a rule the core refuses (bad JSON shape): beside the JSON editor
    js = c.post("/campaigns/new/check", data={**form, "discount_amount_off": "5", "rules_mode": "json",
                                              "rules_json": '{"rules": {"1": {"name": "order.nope", "conditions": {"$is": [1]}}}}'})  # fmt: skip
    assert "order.nope" in _field_error(js.text, "rules_json")
    # saving the refused form shows it again (400) and writes nothing
    before = _audit_len(srv)
    saved = c.post("/campaigns/new", data=form)
    assert saved.status_code == 400 and "amount_off" in _field_error(saved.text, "discount_amount_off")
    assert _campaigns(srv) == [] and _audit_len(srv) == before
    assert srv.request("GET", "/v1/validation-rules").json()["total"] == 0


def test_a_good_form_makes_the_campaign_its_api_equivalent_makes_disabled(srv: AdminServer) -> None:
    c = _sign_in(srv)
    form = _coupon_form(c)
    r = c.post("/campaigns/new/check", data=form, headers={"HX-Request": "true"})
    assert r.status_code == 200 and 'id="check-ok"' in r.text, r.text[:2000]
    assert "The order amount is more than 50.00" in r.text
    ops = _api_equivalent(r.text)
    assert [(o["method"], o["path"]) for o in ops] == [
        ("POST", "/v1/campaigns"),
        ("POST", "/v1/validation-rules"),
        ("POST", "/v1/validation-rules/$changes[1].id/assignments"),
    ]
    assert ops[0]["body"]["active"] is False and ops[0]["body"]["vouchers_count"] == 1000
    assert 'name="changes"' in r.text  # "Preview a cart with this draft" posts these calls
    assert _campaigns(srv) == []  # checking wrote nothing
    saved = c.post("/campaigns/new", data=form)
    assert saved.status_code == 303 and saved.headers["location"].startswith("/actions/")
    (made,) = _campaigns(srv)
    assert made["active"] is False and saved.headers["location"] == f"/actions/{made['async_action_id']}"
    assert srv.wait_action(made["async_action_id"])["status"] == "DONE"
    # the same calls through the API (another name: names are unique) make the same campaign
    rule = srv.request("POST", "/v1/validation-rules", json=ops[1]["body"]).json()
    api = srv.request("POST", "/v1/campaigns", json={**ops[0]["body"], "name": "Via API"}).json()
    assert srv.request("POST", f"/v1/validation-rules/{rule['id']}/assignments",
                       json={**ops[2]["body"], "related_object_id": api["id"]}).status_code == 200  # fmt: skip
    api = srv.request("GET", f"/v1/campaigns/{api['id']}").json()
    made = srv.request("GET", f"/v1/campaigns/{made['id']}").json()
    skip = {"id", "name", "created_at", "updated_at", "async_action_id", "validation_rules",
            "validation_rules_assignments", "creation_status", "vouchers_generation_status"}  # fmt: skip
    assert {k: v for k, v in made.items() if k not in skip} == {k: v for k, v in api.items() if k not in skip}
    made_rule = srv.request("GET", f"/v1/validation-rules/{made['validation_rules'][0]}").json()
    assert made_rule["rules"] == rule["rules"] == {
        "1": {"name": "order.amount", "conditions": {"$more_than": [5000]}}, "logic": "1"}
    assert made["voucher"]["discount"]["amount_off"] == 500 and made["limits"]["discounted_amount"] == 250_000
    codes = srv.request("GET", f"/v1/vouchers?campaign_id={made['id']}&limit=5").json()
    assert codes["vouchers"] and all(v["code"].startswith("SPR-") for v in codes["vouchers"])
    # a promotion (no codes) lands on its campaign page
    promo = _form(c.post("/campaigns/new/check", data={**_form(c.get("/campaigns/new").text),
                                                       "campaign_type": "PROMOTION", "switch": "type"}).text)  # fmt: skip
    assert "vouchers_count" not in promo
    saved = c.post("/campaigns/new", data={**promo, "name": "Cart 10%", "discount_type": "PERCENT",
                                           "discount_percent_off": "10"})  # fmt: skip
    assert saved.status_code == 303 and re.fullmatch(r"/campaigns/camp_\w+", saved.headers["location"])
    got = srv.request("GET", "/v1" + saved.headers["location"]).json()
    assert got["campaign_type"] == "PROMOTION" and got["active"] is False


def test_an_edit_sends_only_what_changed_and_shows_the_diff(srv: AdminServer) -> None:
    camp = srv.request("POST", "/v1/campaigns", json={
        "name": "Edit me", "campaign_type": "DISCOUNT_COUPONS", "metadata": {"a": 1, "b": "x"},
        "start_date": "2026-01-01T08:30:15Z", "limits": {"redemptions": 100},
        "voucher": {"type": "DISCOUNT_VOUCHER", "discount": {"type": "PERCENT", "percent_off": 12.5},
                    "code_config": {"pattern": "ED-####"}},
    }).json()  # fmt: skip
    before = srv.request("GET", f"/v1/campaigns/{camp['id']}").json()
    c = _sign_in(srv)
    page = c.get(f"/campaigns/{camp['id']}/edit")
    assert page.status_code == 200
    form = _form(page.text)
    assert form["discount_percent_off"] == "12.5" and form["code_pattern"] == "ED-####"
    untouched = c.post(f"/campaigns/{camp['id']}/edit/check", data=form)
    assert "Nothing changed." in untouched.text
    form["description"] = "Now described"
    form["limit_redemptions"] = "150"
    r = c.post(f"/campaigns/{camp['id']}/edit/check", data=form, headers={"HX-Request": "true"})
    (op,) = _api_equivalent(r.text)
    assert op == {"method": "PUT", "path": f"/v1/campaigns/{camp['id']}",
                  "body": {"description": "Now described", "limits": {"redemptions": 150}}}  # fmt: skip
    assert "Against the current version" in r.text and "<code>limits.redemptions</code>" in r.text
    saved = c.post(f"/campaigns/{camp['id']}/edit", data=form)
    assert saved.status_code == 303 and saved.headers["location"] == f"/campaigns/{camp['id']}"
    after = srv.request("GET", f"/v1/campaigns/{camp['id']}").json()
    changed = {k for k in set(after) | set(before) if after.get(k) != before.get(k)}
    assert changed == {"description", "limits", "updated_at"}
    assert after["start_date"] == "2026-01-01T08:30:15.000Z"  # seconds the form cannot show: kept
    # a refused edit names its field and changes nothing
    bad = c.post(f"/campaigns/{camp['id']}/edit", data={**form, "discount_percent_off": "250"})
    assert bad.status_code == 400 and _field_error(bad.text, "discount_percent_off")
    assert srv.request("GET", f"/v1/campaigns/{camp['id']}").json() == after


def test_a_rule_set_the_builder_cannot_draw_round_trips_through_the_json_editor(srv: AdminServer) -> None:
    rule = srv.request("POST", "/v1/validation-rules", json=UNDRAWABLE).json()
    camp = srv.request("POST", "/v1/campaigns", json={
        "name": "Hats", "campaign_type": "DISCOUNT_COUPONS", "validation_rules": [rule["id"]],
        "voucher": {"type": "DISCOUNT_VOUCHER", "discount": {"type": "AMOUNT", "amount_off": 300}},
    }).json()  # fmt: skip
    kept = srv.request("GET", f"/v1/validation-rules/{rule['id']}").json()
    c = _sign_in(srv)
    page = c.get(f"/campaigns/{camp['id']}/edit").text
    form = _form(page)
    assert form["rules_mode"] == "json" and "rule_min_amount" not in form  # no lossy builder
    # the JSON editor holds the rule set exactly as the API shows it
    assert json.loads(form["rules_json"]) == {k: kept[k] for k in ("rules", "applicable_to", "error")}
    # every rule reads as a sentence, nested and metadata ones included
    text = html.unescape(page)
    assert "The customer's metadata “tier” starts with “gold”" in text
    assert "with the quantity of items is at least 2" in text and "Valid when 1 or 2." in text
    assert "The builder cannot draw this rule set" in text
    form["description"] = "hats"
    r = c.post(f"/campaigns/{camp['id']}/edit/check", data=form)
    assert [o["path"] for o in _api_equivalent(r.text)] == [f"/v1/campaigns/{camp['id']}"]
    assert c.post(f"/campaigns/{camp['id']}/edit", data=form).status_code == 303
    assert srv.request("GET", f"/v1/validation-rules/{rule['id']}").json() == kept
    # an edit in the JSON editor updates the rule set, and nothing else of it
    edited = json.loads(form["rules_json"])
    edited["rules"]["logic"] = "1 and 2"
    r = c.post(f"/campaigns/{camp['id']}/edit/check", data={**form, "rules_json": json.dumps(edited)})
    (op,) = _api_equivalent(r.text)
    assert op["method"] == "PUT" and op["path"] == f"/v1/validation-rules/{rule['id']}"
    assert c.post(f"/campaigns/{camp['id']}/edit", data={**form, "rules_json": json.dumps(edited)}).status_code == 303
    now = srv.request("GET", f"/v1/validation-rules/{rule['id']}").json()
    assert now["rules"] == edited["rules"] and now["applicable_to"] == kept["applicable_to"]
    assert now["error"] == kept["error"]
    # a builder rule switches to JSON and back losslessly
    fresh = _coupon_form(c)
    js = _form(c.post("/campaigns/new/check", data={**fresh, "switch": "json"}).text)
    assert js["rules_mode"] == "json" and json.loads(js["rules_json"])["rules"]["1"]["name"] == "order.amount"
    back = _form(c.post("/campaigns/new/check", data={**js, "switch": "builder"}).text)
    assert back["rules_mode"] == "builder" and back["rule_min_amount"] == "50.00"


def test_a_support_agent_is_not_offered_the_editor_and_cannot_use_it(srv: AdminServer) -> None:
    marketer = _sign_in(srv, srv.key("marketer"))
    assert 'href="/campaigns/new"' in marketer.get("/campaigns").text
    c = _sign_in(srv, srv.key("support", "Sam"))
    listing = c.get("/campaigns").text
    assert "New campaign" not in listing and 'href="/campaigns/new"' not in listing
    assert c.get("/campaigns/new").status_code == 403
    form = _coupon_form(marketer) | {"csrf_token": _csrf(listing)}
    for path in ("/campaigns/new", "/campaigns/new/check"):
        r = c.post(path, data=form)
        assert r.status_code == 403 and "needs the `admin` or `marketer` role" in r.text
    assert _campaigns(srv) == []
    assert srv.request("GET", "/v1/validation-rules").json()["total"] == 0


def test_capacity_is_the_servers_figure(srv: AdminServer) -> None:
    c = _sign_in(srv)
    csrf = _csrf(c.get("/campaigns/new").text)

    def cap(**form: str) -> tuple[str, str]:
        r = c.post("/campaigns/editor/capacity", data={"csrf_token": csrf, **form},
                   headers={"HX-Request": "true"})  # fmt: skip
        assert r.status_code == 200 and r.text.startswith("<output id=\"capacity\"")
        m = re.search(r'data-capacity="(\d*)" data-count="(\d+)"', r.text)
        assert m, r.text
        return m.group(1), html.unescape(re.sub(r"<[^>]+>", "", r.text))

    n, text = cap(code_length="4", code_charset="ABCD", vouchers_count="100")
    assert n == "256" and "allows 256 distinct codes" in text and "100 requested" in text
    n, text = cap(code_length="4", code_charset="ABCD", vouchers_count="1000")
    assert "this code_config can make 256 distinct codes" in text  # the generation's own check
    n, text = cap(code_pattern="X-##", code_charset="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
    assert n == "3844" and "2 random positions" in text
    n, text = cap(code_pattern="NOHASH")
    assert n == "" and "placeholder" in text
    n, text = cap(vouchers_count="lots")
    assert "is not a whole number" in text


def test_with_approvals_required_saving_submits_the_same_calls_as_a_change_set(srv: AdminServer) -> None:
    camp = srv.request("POST", "/v1/campaigns", json={
        "name": "Gated", "campaign_type": "DISCOUNT_COUPONS",
        "voucher": {"type": "DISCOUNT_VOUCHER", "discount": {"type": "AMOUNT", "amount_off": 100}},
    }).json()  # fmt: skip
    assert srv.request("PUT", "/v1/settings/approvals", json={"required": True}).status_code == 200
    c = _sign_in(srv, srv.key("marketer", "Mia"))
    page = c.get(f"/campaigns/{camp['id']}/edit").text
    assert "Submit for approval" in page
    form = _form(page) | {"description": "four eyes"}
    checked = _api_equivalent(c.post(f"/campaigns/{camp['id']}/edit/check", data=form).text)
    r = c.post(f"/campaigns/{camp['id']}/edit", data=form)
    assert r.status_code == 303 and r.headers["location"].startswith("/approvals/cs_")
    cs = srv.request("GET", "/v1/change-sets/" + r.headers["location"].rsplit("/", 1)[1]).json()
    assert cs["status"] == "PENDING" and cs["changes"] == checked  # the very calls checked
    assert c.get(r.headers["location"]).status_code == 200  # the change set's page
    assert srv.request("GET", f"/v1/campaigns/{camp['id']}").json().get("description") is None
    # what a change set cannot carry is said beside its field, nothing submitted
    new = c.post("/campaigns/new", data=_coupon_form(c, rule_min_amount=""))
    assert new.status_code == 400 and "vouchers_count" in _field_error(new.text, "vouchers_count")
    assert len(srv.request("GET", "/v1/change-sets").json()["change_sets"]) == 1
    # a new campaign with its rule set: the rule's assignment names the campaign the change set
    # creates ($changes[0].id), resolved when it is checked and again when it is applied
    ruled = c.post("/campaigns/new", data=_coupon_form(c, vouchers_count=""))
    assert ruled.status_code == 303 and ruled.headers["location"].startswith("/approvals/cs_")
    assert "Spring coupons" not in [x["name"] for x in _campaigns(srv)]  # not before approval
    applied = srv.request("POST", "/v1/change-sets/" + ruled.headers["location"].rsplit("/", 1)[1] + "/approve")
    assert applied.status_code == 200, applied.text
    made = next(x for x in _campaigns(srv) if x["name"] == "Spring coupons")
    assert made["active"] is False
    (rule,) = srv.request("GET", "/v1/validation-rules").json()["data"]
    assigned = srv.request("GET", f"/v1/validation-rules/{rule['id']}/assignments").json()["data"]
    assert [a["related_object_id"] for a in assigned] == [made["id"]]


def test_a_promotion_edit_changes_its_tier_and_a_forged_type_changes_nothing(srv: AdminServer) -> None:
    camp = srv.request("POST", "/v1/campaigns", json={
        "name": "Cart deal", "campaign_type": "PROMOTION",
        "promotion": {"tiers": [{"name": "10%", "action": {"discount": {"type": "PERCENT", "percent_off": 10}}}]},
    }).json()  # fmt: skip
    tier = camp["promotion"]["tiers"][0]["id"] if "promotion" in camp else None
    tier = tier or srv.request("GET", f"/v1/promotions/{camp['id']}/tiers").json()["tiers"][0]["id"]
    c = _sign_in(srv)
    form = _form(c.get(f"/campaigns/{camp['id']}/edit").text)
    assert form["discount_percent_off"] == "10" and "vouchers_count" not in form
    form |= {"discount_percent_off": "15", "campaign_type": "DISCOUNT_COUPONS"}  # the type is fixed
    (op,) = _api_equivalent(c.post(f"/campaigns/{camp['id']}/edit/check", data=form).text)
    assert op["method"] == "PUT" and op["path"] == f"/v1/promotions/tiers/{tier}"
    assert op["body"]["action"]["discount"]["percent_off"] == 15
    assert c.post(f"/campaigns/{camp['id']}/edit", data=form).status_code == 303
    got = srv.request("GET", f"/v1/promotions/tiers/{tier}").json()
    assert got["action"]["discount"]["percent_off"] == 15
    assert srv.request("GET", f"/v1/campaigns/{camp['id']}").json()["campaign_type"] == "PROMOTION"


def test_a_missing_or_taken_name_is_shown_beside_the_name(srv: AdminServer) -> None:
    c = _sign_in(srv)
    r = c.post("/campaigns/new/check", data=_coupon_form(c, name=""))
    assert "campaign.name" in _field_error(r.text, "name")
    srv.request("POST", "/v1/campaigns", json={"name": "Taken", "campaign_type": "DISCOUNT_COUPONS",
                "voucher": {"type": "DISCOUNT_VOUCHER", "discount": {"type": "AMOUNT", "amount_off": 1}}})  # fmt: skip
    r = c.post("/campaigns/new/check", data=_coupon_form(c, name="Taken"))
    assert "already exists" in _field_error(r.text, "name")
