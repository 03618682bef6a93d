"""The build: raw event logs -> the dbt project (DuckDB or Spark) -> the Parquet feature tables
and the quarantine, published only when every model and test passed (``pitstop build``).

| module | job |
| --- | --- |
| ``run`` | the job: which partitions and marts to redo, dbt, publish on success, the counts |
| ``dbt`` | dbt's environment for a data folder; the DuckDB engine's dbt run, in a child |
| ``spark`` | the Spark engine's dbt run, in this process; Spark's part files merged |
| ``spark_session`` | the one Spark session of a process, with pitstop's settings |
| ``arrivals`` | which arrival partitions changed since the last build |
| ``declarations`` | which marts' declarations changed (rebuilt whole) |
| ``vocabulary`` | the event vocabulary, read from ``transformations/dbt_project.yml`` |

Which engine runs is :mod:`pitstop.engine`'s decision. This folder may import ``settings``,
``errors``, ``sql`` and ``engine``, and dbt, DuckDB, pyarrow and pyspark inside its functions;
nothing of Feast, the offline, online or API folders.
"""
