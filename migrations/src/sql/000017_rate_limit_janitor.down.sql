REVOKE SELECT, DELETE ON rate_limits FROM crm_projector;
