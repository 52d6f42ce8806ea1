"""Input formats: check configurations from flags or TOML, validated with pydantic."""
