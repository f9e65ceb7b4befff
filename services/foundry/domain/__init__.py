"""The shared vocabulary of the product: what more than one service reads or writes.

No gRPC servers, no torch, no transformers: a module here imports only `foundry.runtime`,
`foundry.api`, other `foundry.domain` modules and plain third-party libraries, and every service
may import it (a test walks the imports). Modules are imported from their own paths.

- `tags`: token tags (IOB2, BIOES, repair, validity, spans ⇄ tags, tag sets);
- `formats`: source file formats, the source spec and validation options; `readers`: the readers;
- `steps`: the step/report contract (`StepReport`, `RowViolation`);
- `dedup`: de-duplication primitives (content digests and keys, MinHash LSH near-duplicates);
- `stats`: dataset statistics (`StatisticsCollector`); `tokencount`: token counts with a base
  model's tokenizer;
- `modelversions`: model versions and their manifests in the object store; `bundle`: a version's
  serving bundle (paths, variants, the cached fetch); `causallm`: the causal-LM ONNX graph contract
  and the ONNX Runtime session that runs it;
- `base_models`: the base-model store; `chattemplates`: chat templates.
"""
