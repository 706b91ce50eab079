"""The live ops page (``crmstream ops``): pure data shaping in :mod:`crmstream.ops.data`,
the aiohttp server in :mod:`crmstream.ops.server`, the page in ``static/``."""
