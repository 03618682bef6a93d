"""Entities: who and what features describe."""

from feast import Entity, ValueType

user = Entity(
    name="user",
    join_keys=["user_id"],
    value_type=ValueType.INT64,
    description="A customer, identified by the user_id of the raw event logs.",
)

item = Entity(
    name="item",
    join_keys=["item_id"],
    value_type=ValueType.INT64,
    description="A catalogue item, identified by the item_id of the raw event logs.",
)
