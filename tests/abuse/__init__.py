"""The abuse suite: hostile inputs, each with its expected outcome (refused with a clear error, stored once, or
neutralized). One module per area; `tests/abuse/test_abuse_count.py` keeps the total honest."""
