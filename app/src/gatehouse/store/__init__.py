"""Storage: the database handle, the models, prepared statements, migrations, cleanup of expired rows."""
