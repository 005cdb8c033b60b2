DROP TABLE record_snapshots;
