"""From an alert to a message on every channel (SPEC §7): who gets it and when
(`routing`), its text per channel (`messages`), and sending it through Apprise (`send`)."""
