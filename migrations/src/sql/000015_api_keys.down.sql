DROP TABLE api_key_requests;
DROP TABLE api_keys;
