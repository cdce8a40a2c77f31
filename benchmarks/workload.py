"""The benchmark workload of issue 2: a 10-item cart with 2 codes against a ruleset of
10,000 active promotions of which about 20 touch the cart's SKUs."""

from __future__ import annotations

import datetime as dt

from core import model as m

NOW_MS = int(dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC).timestamp() * 1000)
N_PROMOTIONS = 10_000
N_SKUS = 2_000  # promotions spread over these; the cart holds 10 of them
CART_SKUS = [f"sku_{i}" for i in range(0, 1000, 100)]  # 10 SKUs


def definitions(n_promotions: int = N_PROMOTIONS) -> m.Definitions:
    rules = []
    campaigns = []
    # each promotion targets one SKU; SKU i gets promotions i, i + N_SKUS, ... so the 10 cart
    # SKUs are touched by 10 * n_promotions / N_SKUS promotions: 50 for 10,000. Make ~20 by
    # giving most promotions SKUs outside the cart's range.
    touched = 0
    for i in range(n_promotions):
        if touched < 20 and i % 500 == 0:
            sku = CART_SKUS[touched % len(CART_SKUS)]
            touched += 1
        else:
            sku = f"sku_{1000 + i % N_SKUS}"
        rules.append(
            {
                "id": f"val_{i}",
                "rules": {
                    "1": {"name": "order.amount", "conditions": {"$more_than_or_equal": [1000]}},
                    "logic": "1",
                },
                "applicable_to": {"included": [{"object": "sku", "id": sku}]},
            }
        )
        kind = i % 3
        discount = (
            {"type": "PERCENT", "percent_off": 5 + i % 20, "effect": "APPLY_TO_ITEMS"}
            if kind == 0
            else {"type": "AMOUNT", "amount_off": 100 + i % 500, "effect": "APPLY_TO_ITEMS"}
            if kind == 1
            else {"type": "FIXED", "fixed_amount": 500, "effect": "APPLY_TO_ITEMS"}
        )
        campaigns.append(
            {
                "id": f"promo_camp_{i}",
                "name": f"Promotion {i}",
                "campaign_type": "PROMOTION",
                "promotion": {
                    "tiers": [
                        {
                            "id": f"promo_{i}",
                            "action": {"discount": discount},
                            "validation_rules": [f"val_{i}"],
                        }
                    ]
                },
                "limits": {"redemptions": 1_000_000},
            }
        )
    campaigns.append(
        {
            "id": "camp_pct",
            "name": "10% off",
            "voucher": {"discount": {"type": "PERCENT", "percent_off": 10, "amount_limit": 5000}},
            "limits": {"redemptions": 1_000_000, "per_customer_per_day": 5},
        }
    )
    campaigns.append(
        {
            "id": "camp_amt",
            "name": "5 off",
            "voucher": {"discount": {"type": "AMOUNT", "amount_off": 500}},
            "limits": {"discounted_amount": 100_000_000},
        }
    )
    vouchers = [
        {"code": "PCT10", "campaign_id": "camp_pct", "redemption": {"quantity": 1_000_000}},
        {"code": "FIVEOFF", "campaign_id": "camp_amt"},
    ]
    return m.load_definitions(
        {
            "campaigns": campaigns,
            "vouchers": vouchers,
            "validation_rules": rules,
            "stacking_rules": {"applicable_redeemables_per_category_limit": 5},
        }
    )


def cart() -> m.Order:
    return m.Order(
        items=[
            m.OrderItem(sku_id=s, quantity=1 + i % 3, price=1000 + 250 * i)
            for i, s in enumerate(CART_SKUS)
        ]
    )


CUSTOMER = m.Customer(source_id="cust_1")
REDEEMABLES = [m.Redeemable(object="voucher", id="PCT10"), m.Redeemable(object="voucher", id="FIVEOFF")]
