"""One router per resource: health, online lookups, push, the registry listings, monitoring,
the API's own docs."""
