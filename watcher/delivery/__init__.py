"""From an alert to a message on every channel (SPEC §7): who gets it and when
(`routing`), its text per channel (`messages`, laid out and fitted to each channel's
limits by `layout`), one send through Apprise and what its answer means (`transport`),
and the outbox rounds that claim, send and mark each (alert, channel) (`send`)."""
