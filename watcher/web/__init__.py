"""The staff pages and feeds of SPEC §12 (`watcher web`, `[web] listen` in `watcher run`).

`app` builds the Starlette application (routes, login, security headers); `views`
renders the pages and `feeds` the Atom feed and downloads; `auth` holds password
hashes, sessions and the login throttle; `search` the archive search and retro-match;
`server` runs it under uvicorn, alone or beside the daemon; `commands` holds
`watcher user add` and `watcher search`. Nothing here writes the state but
`watcher user add`.
"""
