"""The accounts rules (gatehouse.accounts) without HTTP: users, roles, clients, and who may change them."""
