"""Accounts: users, roles and permissions, clients, sessions and consents, and the only code that writes them.

actor.py says who may do what (no escalation); users.py, roles.py and
clients.py each read and write one entity and ask actor.py before every
change; password_policy.py and username_policy.py are the rules a new
password or username must pass; audit_log.py reads what the changes recorded.
"""
