"""pitstop's lookup API: ``POST /get-online-features`` in Feast's wire format and friends.

uvicorn --factory --loop asyncio pitstop.api.app:create_app
"""

from pitstop.api.app import create_app

__all__ = ["create_app"]
