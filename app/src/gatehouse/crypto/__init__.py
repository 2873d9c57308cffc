"""Cryptography: password hashing, digests of secrets, the signing key set, compact JWS."""
