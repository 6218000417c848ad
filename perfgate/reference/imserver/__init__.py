"""The reference IM service: a small but plausible chat backend built on aiohttp.

Run it with ``python -m loadtests.imserver --port P --data DIR``.
"""
