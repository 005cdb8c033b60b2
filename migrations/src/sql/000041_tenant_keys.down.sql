DROP INDEX events_commit_order;
CREATE UNIQUE INDEX events_commit_order ON events (transaction_id, global_position);
DROP INDEX events_stream;
CREATE UNIQUE INDEX events_stream ON events (aggregate_id, aggregate_type, sequence);
CREATE UNIQUE INDEX credentials_email ON credentials (email);
DROP TABLE login_emails;
