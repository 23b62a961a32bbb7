"""fastsoft test suite."""
