"""``migrate`` creates the tables, upgrades an older schema, and is safe to run again."""

from models import Image, database, migrate_schema
from tests.conftest import with_postgres


@with_postgres
def test_migrate_twice_changes_nothing_the_second_time(database_url):
    assert migrate_schema() == []  # the fixture already migrated
    assert {"image", "step", "variant", "metadata", "embedding"} <= set(database.get_tables())


def test_migrate_adds_a_column_an_older_schema_lacks(database_url):
    database.execute_sql("ALTER TABLE image DROP COLUMN original_name")

    assert migrate_schema() == ["image.original_name"]
    assert Image.create(source="x.jpg", original_name="x.jpg").original_name == "x.jpg"
