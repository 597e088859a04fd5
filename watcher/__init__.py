"""watcher: alerts civil-society staff to new restrictions in English and Khmer sources."""

__version__ = "0.1.0"
