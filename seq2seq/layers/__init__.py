"""Neural-network building blocks with explicit arguments: no config, no data."""
