"""What runs the pipeline: `watcher once` (`once`), `watcher run` (`run`), the daemon (`daemon`,
its pure scheduling decisions in `schedule`, its systemd and lock plumbing in
`service`), stale-source checks (`health`), and reading the target of `watcher explain`
(`explain`)."""
