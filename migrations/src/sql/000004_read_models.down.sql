DROP TABLE projector_checkpoints;
DROP TABLE contacts;
DROP TABLE companies;
DROP TABLE users;
DROP TABLE workspaces;
