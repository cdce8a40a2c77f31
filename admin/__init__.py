"""promogate admin: management API and marketer web UI."""
