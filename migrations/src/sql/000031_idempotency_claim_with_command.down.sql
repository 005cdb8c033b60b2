REVOKE INSERT ON idempotency_keys FROM crm_command;
