"""Who an item is and which story it belongs to (SPEC §6): canonical links and item keys
(`keys`), near-identical text across outlets (`stories`, `minhash`), and whether an item
may alert and for which watchlists (`dedup`). Pure decisions; the store keeps the state."""
