"""What runs the pipeline: `watcher run`, the daemon (`daemon`, with its systemd and
lock plumbing in `service`), stale-source checks (`health`), and reading the target of
`watcher explain` (`explain`)."""
