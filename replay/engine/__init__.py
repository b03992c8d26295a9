"""The replay engine: rebuild a captured step locally, run it, judge the outcome.

`runner` runs in the user's `replay run` process; `harness` is the replayed step's
own process and must stay light, which is why this package's `__init__` imports
nothing (importing a submodule runs it).
"""
