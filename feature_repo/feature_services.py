"""Feature services: one per consumer model and version. The API looks features up through them."""

from feast import FeatureService

from feature_views import item_popularity, user_activity, user_profile
from on_demand_views import user_recency

churn_v1 = FeatureService(
    name="churn_v1",
    features=[user_activity, user_profile, user_recency],
    description="Churn model v1: user activity, profile and recency. Entity rows: user_id.",
    owner="pitstop",
    tags={"model": "churn", "version": "1"},
)

ranking_v1 = FeatureService(
    name="ranking_v1",
    features=[user_activity, user_profile, item_popularity],
    description="Ranking model v1: user and item features. Entity rows: user_id and item_id.",
    owner="pitstop",
    tags={"model": "ranking", "version": "1"},
)
