"""The HTTP endpoints of the protocol, one module per endpoint."""
