"""The key's revision moves on every change, whoever makes it.

The services bump ``revision`` themselves, but a raw ``QuerySet.update()``, an operator's SQL
or another tool does not, and a process holding a cached copy of the key
(gateway/pipeline/keycache.py) would keep serving the old allowlists and limits. On PostgreSQL a
BEFORE UPDATE trigger bumps it whenever any column other than ``revision`` and
``last_used_at`` changes (the latter is written by ``apikey_touch`` on use and changes
nothing a cached copy decides by). An update that already moves the revision (every
service, ``ApiKey.save``) is left as it is: one change, one bump. Columns are compared as a
whole row (``to_jsonb``), so a column added later is covered without editing the trigger.

SQLite gets no trigger: the key cache is PostgreSQL-only (``keycache.enabled``), so there
every request reads the key from the database and nothing compares revisions.
"""

from django.db import migrations

FUNCTION = "accounts_apikey_revision_bump"

# One statement each: psycopg sends a statement with parameters (Django passes ()) alone.
CREATE = (
    f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.revision = OLD.revision
       AND (to_jsonb(NEW) - 'revision' - 'last_used_at')
           IS DISTINCT FROM (to_jsonb(OLD) - 'revision' - 'last_used_at') THEN
        NEW.revision := OLD.revision + 1;
    END IF;
    RETURN NEW;
END
$$
""",
    f"""
CREATE TRIGGER {FUNCTION} BEFORE UPDATE ON accounts_apikey
    FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()
""",
)

DROP = (
    f"DROP TRIGGER IF EXISTS {FUNCTION} ON accounts_apikey",
    f"DROP FUNCTION IF EXISTS {FUNCTION}()",
)


def trigger_create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in CREATE:
            schema_editor.execute(statement)


def trigger_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in DROP:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_apikey_revision"),
    ]

    operations = [
        migrations.RunPython(trigger_create, trigger_drop),
    ]
