-- The application whose consent flow connected a provider account. Only that application
-- may list the account, push to it, or remove it; NULL marks an account that no flow created
-- (set up directly in the store) and is not limited to one application.
ALTER TABLE accounts ADD COLUMN app_id TEXT;
UPDATE accounts SET app_id = (SELECT a.app_id FROM authorizations a WHERE a.id = accounts.authorization_id);
