"""Configuration: the typed settings (:mod:`config.settings`) and the files for
Elasticsearch, Kibana and Prometheus that live beside this module."""

from config.settings import Settings, get_settings

__all__ = ["Settings", "get_settings"]
