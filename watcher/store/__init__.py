"""The state (SPEC §6, §7, §10): SQLite (`sqlite`; all SQL lives in this package), its
schema as migrations (`schema`), the records it hands back (`records`), and the evidence
archive (`evidence`)."""
