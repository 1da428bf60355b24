"""The command line and what it starts: run/store commands, examples, serve, export, the wheel, hostile input."""
