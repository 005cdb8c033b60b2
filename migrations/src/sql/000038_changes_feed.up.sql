-- The changes feed (issue 13): a workspace's events in commit order,
-- `(transaction_id, global_position)` as the catch-up projector reads all workspaces, from
-- an index that starts with the tenant.
CREATE INDEX events_tenant_commit_order ON events (tenant_id, transaction_id, global_position);
