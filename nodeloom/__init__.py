"""The `nodeloom` command line."""
