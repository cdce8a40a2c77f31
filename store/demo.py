"""The demo data set `make run` serves (and the README's curl examples use)."""

from __future__ import annotations

from core import model as m

DEMO = {
    "products": [
        {"id": "prod_tshirt", "name": "T-shirt", "price": 2000, "categories": ["apparel"],
         "skus": [{"id": "sku_tshirt_m", "price": 2000}, {"id": "sku_tshirt_l", "price": 2200}]},
        {"id": "prod_mug", "name": "Mug", "price": 1200, "categories": ["kitchen"]},
        {"id": "prod_5h1pp1ng", "name": "Shipping", "price": 499},
    ],
    "validation_rules": [
        {"id": "val_min_50", "name": "Orders from 50.00",
         "rules": {"1": {"name": "order.amount", "conditions": {"$more_than_or_equal": [5000]}},
                   "logic": "1"},
         "error": {"message": "Spend at least 50.00"}},
        {"id": "val_min_100", "name": "Orders from 100.00",
         "rules": {"1": {"name": "order.amount", "conditions": {"$more_than_or_equal": [10000]}},
                   "logic": "1"}},
        {"id": "val_two_mugs", "name": "Buy two mugs",
         "rules": {"1": {"name": "order.items.any", "conditions": {"$is": ["prod_mug"]},
                         "rules": {"1": {"name": "order.items.quantity",
                                         "conditions": {"$more_than_or_equal": [2]}}}},
                   "logic": "1"}},
        {"id": "val_tshirts", "name": "T-shirts only",
         "applicable_to": {"included": [{"object": "product", "id": "prod_tshirt"}]}},
    ],
    "campaigns": [
        {"id": "camp_summer", "name": "Summer 20% off", "category": "coupons",
         "voucher": {"discount": {"type": "PERCENT", "percent_off": 20, "amount_limit": 5000}},
         "validation_rules": ["val_min_50"],
         "limits": {"redemptions": 1000, "per_customer": 1}},
        {"id": "camp_fiveoff", "name": "5.00 off", "category": "coupons",
         "voucher": {"discount": {"type": "AMOUNT", "amount_off": 500},
                     "redemption": {"quantity": 100}},
         "limits": {"discounted_amount": 1000000}},
        {"id": "camp_tshirts", "name": "10% off T-shirts", "category": "coupons",
         "voucher": {"discount": {"type": "PERCENT", "percent_off": 10, "effect": "APPLY_TO_ITEMS"}},
         "validation_rules": ["val_tshirts"]},
        {"id": "camp_gift", "name": "Gift cards", "campaign_type": "GIFT_VOUCHERS", "category": "gift",
         "voucher": {"type": "GIFT_VOUCHER", "gift": {"amount": 10000}}},
        {"id": "camp_promos", "name": "Cart promotions", "campaign_type": "PROMOTION",
         "category": "promotions",
         "promotion": {"tiers": [
             {"id": "promo_spend_100", "name": "10.00 off orders from 100.00", "hierarchy": 1,
              "action": {"discount": {"type": "AMOUNT", "amount_off": 1000}},
              "validation_rules": ["val_min_100"]},
             {"id": "promo_free_shipping", "name": "Free shipping from 50.00", "hierarchy": 2,
              "action": {"discount": {"type": "UNIT", "unit_off": 1, "unit_type": "prod_5h1pp1ng",
                                      "effect": "ADD_MISSING_ITEMS"}},
              "validation_rules": ["val_min_50"]},
             {"id": "promo_mug_bogo", "name": "Second mug free", "hierarchy": 3,
              "action": {"discount": {"type": "UNIT", "unit_off": 1, "unit_type": "prod_mug",
                                      "effect": "ADD_SAME_ITEMS"}},
              "validation_rules": ["val_two_mugs"]},
         ]}},
    ],
    "vouchers": [
        {"code": "SUMMER20", "campaign_id": "camp_summer"},
        {"code": "FIVEOFF", "campaign_id": "camp_fiveoff"},
        {"code": "TSHIRT10", "campaign_id": "camp_tshirts"},
        {"code": "GIFT-DEMO-1", "campaign_id": "camp_gift"},
        {"code": "GIFT-DEMO-2", "campaign_id": "camp_gift", "gift": {"amount": 2500}},
    ],
    "stacking_rules": {"applicable_redeemables_per_category_limit": 3,
                       "redeemables_application_mode": "PARTIAL"},
}  # fmt: skip


def definitions() -> m.Definitions:
    return m.load_definitions(DEMO)
