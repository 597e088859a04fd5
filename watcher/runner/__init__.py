"""What runs the pipeline and the commands around it: `watcher once` (`once`), `watcher run`
(`run`), the daemon (`daemon`, its pure scheduling decisions in `schedule`, its systemd and
lock plumbing in `service`), stale-source checks (`health`), the rows of `watcher export`
(`export`), `watcher migrate` (`migrate`), reading the target of `watcher explain` (`explain`), and
reading the config for a command (`loading`)."""
