"""Historical data import, the store side: read a file a chunk at a time, plan each chunk
against the store (dry run), commit. The parsing and normalising is pure
(`peakline_core.importing`)."""

from peakline_store.importing.files import CHUNK_ROWS, Table, open_table, read_table
from peakline_store.importing.plan import (
    ImportPlan,
    ImportRefused,
    Phase,
    commit,
    import_file,
    plan_import,
)

__all__ = [
    "CHUNK_ROWS",
    "ImportPlan",
    "ImportRefused",
    "Phase",
    "Table",
    "commit",
    "import_file",
    "open_table",
    "plan_import",
    "read_table",
]
