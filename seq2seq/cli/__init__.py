"""One module per command; the only place that imports everything."""
