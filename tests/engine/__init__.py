"""The engine: validation, ports, planning, running, caching, paths and the engine's side of [trust]."""
