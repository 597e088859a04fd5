"""One poll of one source, end to end (`poll`): fetch → parse → identify → match →
record; the CPU work (`analysis`) runs in worker processes (`pool`)."""
