"""Fetching (SPEC §8): the one shared HTTP client (`client`), which addresses a feed's
links may reach (`netguard`), and the main text of an item's own page (`fulltext`)."""
