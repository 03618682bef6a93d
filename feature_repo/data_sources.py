"""Data sources: the Parquet feature tables dbt writes, read as standard Feast FileSources.

Paths come from PITSTOP_DATA_DIR (default: the project's data/ folder), never from the working
directory, so `feast apply` records where this data folder's tables are. With Feast's Spark
offline store (PITSTOP_ENGINE=spark: pitstop's generated feature_store.yaml says
`offline_store: {type: spark}`), the same files are declared as SparkSources, the only kind
that store reads.
"""

import os
from pathlib import Path

import yaml
from feast import Field, FileSource, PushSource, RequestSource
from feast.data_source import DataSource
from feast.types import UnixTimestamp

DATA_DIR = Path(os.environ.get("PITSTOP_DATA_DIR", Path(__file__).parent.parent / "data"))
FEATURES_DIR = DATA_DIR.expanduser().resolve() / "features"


def _offline_store_type() -> str:
    """The offline store of the feature_store.yaml Feast reads (pitstop's generated one when
    FEAST_FS_YAML_FILE_PATH names it, else the committed one next to this file)."""
    path = Path(
        os.environ.get("FEAST_FS_YAML_FILE_PATH") or Path(__file__).parent / "feature_store.yaml"
    )
    config = yaml.safe_load(path.read_text()) or {}
    return str((config.get("offline_store") or {}).get("type", ""))


ON_SPARK = _offline_store_type() == "spark"


def _feature_table(name: str, description: str) -> DataSource:
    if ON_SPARK:
        from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import (
            SparkSource,
        )

        return SparkSource(
            name=f"{name}_source",
            path=str(FEATURES_DIR / name),
            file_format="parquet",
            timestamp_field="event_timestamp",
            created_timestamp_column="created_timestamp",
            description=description,
            owner="pitstop",
        )
    return FileSource(
        name=f"{name}_source",
        # the table's folder of Parquet partitions by snapshot date (pitstop.feature_tables)
        path=str(FEATURES_DIR / name / "*.parquet"),
        timestamp_field="event_timestamp",
        created_timestamp_column="created_timestamp",
        description=description,
        owner="pitstop",
    )


user_activity_source = _feature_table(
    "user_activity", "dbt mart user_activity: windowed activity counts, sparse daily snapshots."
)
user_profile_source = _feature_table(
    "user_profile", "dbt mart user_profile: lifetime facts per user, sparse daily snapshots."
)
item_popularity_source = _feature_table(
    "item_popularity", "dbt mart item_popularity: 7-day item counts, sparse daily snapshots."
)

# Fresh user_activity values pushed by a stream job go straight online; offline reads (training
# sets, materialization) use the dbt table behind it.
user_activity_push = PushSource(
    name="user_activity_push",
    batch_source=user_activity_source,
    description="Fresh user_activity rows pushed online between daily builds.",
)

# The time of the request, sent with every online lookup and taken from the entity rows'
# event_timestamp in a training set, so request-time features mean the same in both.
request_context = RequestSource(
    name="request_context",
    schema=[Field(name="request_time", dtype=UnixTimestamp)],
    description="Request-time inputs: request_time, when the prediction is made.",
)
