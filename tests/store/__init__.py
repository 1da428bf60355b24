"""The SQLite store: versions, runs, migrations, concurrency, crashes and honest errors."""
