"""The HTTP API, request batching and the web page."""
