DROP TABLE webhook_attempts;
DROP TABLE webhook_messages;
DROP SEQUENCE webhook_message_order;
DROP TABLE webhook_endpoints;
DELETE FROM projector_checkpoints WHERE name = 'webhooks';
