"""Model families behind one interface (encode / decode_step), their construction, loss and model files."""
