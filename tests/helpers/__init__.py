"""Support code for the tests and the benchmarks, never shipped with the services.

- `training_models`: tiny BERT and causal LMs built from a config and a vocabulary (never
  downloaded), synthetic NER and chat examples.
- `augmentation`: the bundled WNUT-17 splits and a real OpenAI-compatible HTTP server on
  127.0.0.1 whose answers a function decides.
- `conll`: token-classification examples from a CoNLL file, read by ingestion's own reader.

pytest puts `tests/` on `sys.path` (`pythonpath` in pyproject.toml); the scripts in bench/ add it
themselves.
"""
