"""The book's topics, one folder each: `experiment` (registered with `landscape.registry`), `analysis`, `claims`
(registered with `landscape.scorecard`), `figures` — only the modules a topic needs. See docs/DESIGN.md, "Package
layout".
"""
