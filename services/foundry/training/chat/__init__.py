"""Chat / instruction SFT of causal language models in the training service.

- the chat template (the spec's, a named one: chatml, llama-3, zephyr, or the tokenizer's),
  rendered with jinja2 like transformers, with each assistant turn's span: `foundry.domain.chattemplates`;
- `encode`: `ChatEncoder`, conversations → an `EncodedSplit` of task CHAT, labels only on the
  assistant tokens (the tokenization cache stores it like any split);
- `packing`: first-fit-decreasing packing of a batch's conversations with a block-causal 4D mask
  and restarting positions (used by `data.collate.Collator`);
- `metrics`: perplexity and exact match of short assistant turns;
- `model`: loading the causal LM (gradient checkpointing) and saving its chat checkpoint;
- `version`: the export step of a chat model version (ONNX with a key/value cache, greedy parity).

The training loop, the worker, events and artifacts are the encoder tasks' own: chat plugs in
where the task matters (encoding, collation, loss targets, metrics, model, export).
Modules are imported from their own paths (this package imports nothing eagerly).
"""
