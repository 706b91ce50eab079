"""Benchmarks: measured figures are written to files and printed as tables.

``crmstream bench`` (:func:`bench.run.run_bench`) measures, on the same events:

- :mod:`bench.events`: airline tweets (mapped like the README's replay) and generated
  events, interleaved, repeated with fresh ids, encoded once;
- :mod:`bench.stages`: (a) the models' stage in process, (b) Elasticsearch bulk
  ingest of (a)'s documents (built by the sink's own
  :func:`streams.sinks.communication_request`), (c) Kafka produce and consume;
- :mod:`bench.end_to_end`: (d) Kafka → worker → Elasticsearch, sustained and paced;
- :mod:`bench.report`: the JSON file, the machine, the table; :mod:`bench.stats`:
  percentiles and pacing; :mod:`bench.namespace`: the run's own namespace.
"""
