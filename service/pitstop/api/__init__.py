"""pitstop's lookup API: ``POST /get-online-features`` in Feast's wire format and friends.

uvicorn --factory pitstop.api.app:create_app
"""

from pitstop.api.app import create_app

__all__ = ["create_app"]
