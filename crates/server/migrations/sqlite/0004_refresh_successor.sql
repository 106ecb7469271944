-- The pair a rotation issued, sealed with the master key, so that a retry with the same
-- refresh token within the grace window gets that same pair back. Wiped an hour after
-- rotation.
ALTER TABLE refresh_tokens ADD COLUMN successor_sealed BLOB;
