"""Pure helpers of the watch toolset (issue 27): parsing and patterns, no I/O."""
