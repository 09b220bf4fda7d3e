"""Historical data import, the store side: read a file, plan against the store (dry run),
commit. The parsing and normalising is pure (`peakline_core.importing`)."""

from peakline_store.importing.files import read_table
from peakline_store.importing.plan import ImportPlan, ImportRefused, commit, plan_import

__all__ = ["ImportPlan", "ImportRefused", "commit", "plan_import", "read_table"]
