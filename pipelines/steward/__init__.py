"""Steward review in the browser (``crm-golden review serve``).

The app never writes into the DuckDB warehouse: decisions go to a SQLite decision store beside it
(:mod:`pipelines.steward.store`) and the pipeline imports them into ``golden.steward_decisions``
when a run starts matching. Reads are short read-only connections, cached in memory.
"""
