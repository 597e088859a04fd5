"""Text normalisation (SPEC §5): HTML to text, one normal form for terms and text, and the
Khmer script rules (canonical mark order, the one cluster rule, word segmentation, legacy
Limon fonts)."""
