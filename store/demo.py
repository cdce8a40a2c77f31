"""The demo data set `make run` serves (and the README's curl examples use).

Beside the coupons, gift cards and cart promotions, a fuel station's loyalty programme
("Fuel Rewards", ``camp_fuel``): 1 point per litre of fuel, twice the points on a visit over 15
litres, a welcome bonus on the first paid order, a birthday bonus through a custom event, three
gifts with stock bought with points, and pay-with-points at the till (100 points = 1.00).
Members join on their first paid order (auto-join); points expire after 12 months.

And its referral programme ("Refer a driver", ``camp_refer``): a member's code (published once
per member, ``POST /v1/publications``) gives a new customer 5.00 off their first fill-up and
200 Fuel Rewards points; the member earns 500 points per friend and, once, a free car wash at
the third friend (promogate's referral tiers), for at most 20 friends.
"""

from __future__ import annotations

from core import model as m

DEMO = {
    "products": [
        {"id": "prod_tshirt", "name": "T-shirt", "price": 2000, "categories": ["apparel"],
         "skus": [{"id": "sku_tshirt_m", "price": 2000}, {"id": "sku_tshirt_l", "price": 2200}]},
        {"id": "prod_mug", "name": "Mug", "price": 1200, "categories": ["kitchen"]},
        {"id": "prod_5h1pp1ng", "name": "Shipping", "price": 499},
        # fuel: one order line per fill-up, quantity = whole litres, price per litre in cents
        {"id": "prod_fuel", "name": "Fuel", "price": 189, "categories": ["fuel"],
         "skus": [{"id": "sku_diesel", "price": 179}, {"id": "sku_petrol95", "price": 189}]},
        {"id": "prod_car_wash", "name": "Car wash", "price": 1200},
        {"id": "prod_coffee", "name": "Coffee", "price": 250},
        {"id": "prod_screenwash", "name": "Screenwash 5 l", "price": 900},
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
        {"id": "val_fuel_over_15", "name": "More than 15 litres in one visit",
         "context_type": "earning_rule.order.paid",
         "rules": {"1": {"name": "order.items.any", "conditions": {"$is": ["prod_fuel"]},
                         "rules": {"1": {"name": "order.items.quantity",
                                         "conditions": {"$more_than": [15]}}}},
                   "logic": "1"}},
        {"id": "val_first_order", "name": "The customer's first paid order",
         "context_type": "earning_rule.order.paid",
         "rules": {"1": {"name": "customer.orders.count", "conditions": {"$is": [0]}}, "logic": "1"}},
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
        {"id": "camp_fuel", "name": "Fuel Rewards", "campaign_type": "LOYALTY_PROGRAM", "category": "loyalty",
         "auto_join": True, "join_once": True,
         "voucher": {"type": "LOYALTY_CARD",
                     "loyalty_card": {"points": 0,
                                      "expiration_rules": {"period_type": "MONTH", "period_value": 12}},
                     "code_config": {"pattern": "FUEL-#####", "charset": "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"}}},
        {"id": "camp_refer", "name": "Refer a driver", "campaign_type": "REFERRAL_PROGRAM", "category": "loyalty",
         "join_once": True,
         "voucher": {"type": "DISCOUNT_VOUCHER", "discount": {"type": "AMOUNT", "amount_off": 500},
                     "code_config": {"pattern": "DRIVE-#####", "charset": "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"}},
         "referral_program": {"conversion_event_type": "redemption",
                              "referee_reward": {"type": "LOYALTY_CARD", "amount": 200,
                                                 "related_object_parent": {"id": "camp_fuel", "object": "CAMPAIGN"}},
                              "referral_tiers": [
                                  {"id": "rt_every", "name": "Every friend", "min_referees": 1,
                                   "rewards": ["rew_refer_500"]},
                                  {"id": "rt_third", "name": "Third friend", "min_referees": 3, "once": True,
                                   "rewards": ["rew_car_wash"]}],
                              "max_referees": 20, "new_customers_only": True}},
    ],
    "earning_rules": [
        {"id": "ern_fuel_litre", "campaign_id": "camp_fuel", "event": "order.paid",
         "source": {"banner": "1 point per litre"},
         "loyalty": {"type": "PROPORTIONAL", "calculation_type": "ORDER_ITEMS_QUANTITY",
                     "order_items": {"quantity": {"every": 1, "points": 1, "object": "product",
                                                  "id": "prod_fuel"}}}},
        {"id": "ern_fuel_over_15", "campaign_id": "camp_fuel", "event": "order.paid",
         "source": {"banner": "Double points over 15 litres"}, "validation_rule_id": "val_fuel_over_15",
         "loyalty": {"type": "PROPORTIONAL", "calculation_type": "ORDER_ITEMS_QUANTITY",
                     "order_items": {"quantity": {"every": 1, "points": 1, "object": "product",
                                                  "id": "prod_fuel"}}}},
        {"id": "ern_welcome", "campaign_id": "camp_fuel", "event": "order.paid",
         "source": {"banner": "Welcome bonus"}, "validation_rule_id": "val_first_order",
         "loyalty": {"type": "FIXED", "points": 100}},
        {"id": "ern_birthday", "campaign_id": "camp_fuel", "event": "birthday",
         "source": {"banner": "Happy birthday"}, "loyalty": {"type": "FIXED", "points": 200}},
    ],
    "rewards": [
        {"id": "rew_car_wash", "name": "Free car wash", "parameters": {"product": {"id": "prod_car_wash"}},
         "stock": 50},
        {"id": "rew_coffee", "name": "Free coffee", "parameters": {"product": {"id": "prod_coffee"}},
         "stock": 200},
        {"id": "rew_screenwash", "name": "Screenwash 5 l", "parameters": {"product": {"id": "prod_screenwash"}},
         "stock": 30},
        {"id": "rew_refer_500", "name": "500 Fuel Rewards points",
         "parameters": {"campaign": {"id": "camp_fuel", "balance": 500}}},
        {"id": "rew_fuel_pwp", "name": "Pay with points",
         "parameters": {"coin": {"exchange_ratio": 1, "points_ratio": 100}}},
    ],
    "reward_assignments": [
        {"id": "rewa_car_wash", "reward_id": "rew_car_wash", "campaign_id": "camp_fuel",
         "parameters": {"loyalty": {"points": 300}}},
        {"id": "rewa_coffee", "reward_id": "rew_coffee", "campaign_id": "camp_fuel",
         "parameters": {"loyalty": {"points": 100}}},
        {"id": "rewa_screenwash", "reward_id": "rew_screenwash", "campaign_id": "camp_fuel",
         "parameters": {"loyalty": {"points": 250}}},
        {"id": "rewa_fuel_pwp", "reward_id": "rew_fuel_pwp", "campaign_id": "camp_fuel"},
        {"id": "rewa_refer_500", "reward_id": "rew_refer_500", "campaign_id": "camp_refer"},
        {"id": "rewa_refer_wash", "reward_id": "rew_car_wash", "campaign_id": "camp_refer"},
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
