"""Using a trained model file: the translator, test reports, output formats, chat."""
