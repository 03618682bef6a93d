"""The Feast adapter: where pitstop drives Feast (its config, its repo, its registry).

| module | job |
| --- | --- |
| ``config`` | the feature_store.yaml Feast reads, made from the settings (no Feast import) |
| ``repo`` | open the store, apply, Feast's own materialize, a training set's Feast calls |
| ``sql_registry`` | one-line checks on a PostgreSQL registry before Feast runs |

Feast is imported inside the functions only (it takes seconds; the API's start-up reads
``config`` and must not wait for it); where Feast has no public way, the private call is
wrapped here and pinned by ``tests/feast_adapter/test_private_calls.py``. This folder may
import ``settings``, ``errors``, ``engine`` (the offline store Feast gets) and
``online.feast_protos`` (the registry file, read without Feast). Feast meets pitstop
elsewhere only as a plug-in it loads (``offline/store.py``) and in the online codecs'
fallbacks for rare value types (docs/architecture.md, Layout).
"""
