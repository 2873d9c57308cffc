"""The HTTP layer: one module per endpoint; each parses, calls domain code, answers."""
