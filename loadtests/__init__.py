"""promogate load tests: locust scenarios and the runner that seeds data and reports."""
