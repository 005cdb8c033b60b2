-- The server's janitor (as the projector role) deletes rate-limit windows that ended.
GRANT SELECT, DELETE ON rate_limits TO crm_projector;
