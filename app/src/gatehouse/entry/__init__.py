"""How the server is started: the `gatehouse` command, the ASGI app, gunicorn's settings, `make run`."""
