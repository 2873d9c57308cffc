"""Version 1 of the schema: every table of the first release.

Later migrations change the schema with playhouse.migrate operations and
never edit this file; while the models still equal version 1 they are the
schema definition here.
"""

from gatehouse.models import ALL_MODELS


def up(db):
    db.create_tables(ALL_MODELS, safe=True)
