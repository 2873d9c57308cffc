"""Accounts: users, roles and permissions, clients, sessions and consents, and the only code that writes them."""
