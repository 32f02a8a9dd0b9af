"""Services over the pool and the database: inventory sync, import, stats, consoles."""
