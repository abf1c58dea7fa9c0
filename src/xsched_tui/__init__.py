"""xsched-tui: tell the truth about whether XSched is actually scheduling."""

__version__ = "0.1.0"
