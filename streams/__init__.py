"""Stream plumbing: the Faust app, the topics, the pure pipeline and the sinks.

Reading order for an event's path from topic to index:
:mod:`streams.topics` → :mod:`agents.communications` → :mod:`streams.pipeline`
→ :mod:`streams.sinks` → :mod:`streams.search_index`.
"""
