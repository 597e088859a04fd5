"""`watcher demo`: the bundled sample (`data/`, `sample`), the loopback servers it polls and
delivers to (`loopback`), and the run that prints the alerts (`run`)."""
