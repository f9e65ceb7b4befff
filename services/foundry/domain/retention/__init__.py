"""Deletion and retention of stored versions: who depends on a version (`lineage`), the
tombstones deletions leave (`tombstones`), deleting dataset and model versions (`deletion`), and
collecting orphan objects that no manifest names (`gc`)."""
