"""Search over the model interface, corpus decoding, forced scoring."""
