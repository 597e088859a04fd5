"""The state (SPEC §6, §7, §10, §12): SQLite (`sqlite`; all SQL lives in this package), its
schema as migrations (`schema`), the records it hands back (`records`), the evidence
archive (`evidence`), the web pages' read-only queries (`reads`) and the search index
over retained items (`search_index`)."""
