"""One router per resource: health, online lookups, the registry listings."""
