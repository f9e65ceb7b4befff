"""`foundry generate MODEL PROMPT` and `foundry chat MODEL`: clients of the inference service's
`Generate` RPC, printing the reply as it streams. `chat` keeps the conversation (the service
applies the model's chat template to it) until `/exit` or end of input; `/reset` starts over."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from rich.console import Console

from foundry.api.common.v1 import example_pb2, model_pb2, refs_pb2
from foundry.api.inference.v1 import inference_service_pb2 as pb
from foundry.cli.infer import split_ref
from foundry.client.inference import InferenceClient
from foundry.runtime.settings import Settings

_FINISH = {
    pb.FINISH_REASON_END_OF_SEQUENCE: "end of sequence",
    pb.FINISH_REASON_MAX_NEW_TOKENS: "max new tokens",
    pb.FINISH_REASON_STOP_SEQUENCE: "stop sequence",
}


@dataclass(frozen=True)
class Decoding:
    """The command line's decoding options (`GenerationConfig`)."""

    max_new_tokens: int = 256
    stop: Sequence[str] = ()
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    int8: bool = False
    timeout_s: float | None = None

    def config(self) -> pb.GenerationConfig:
        sample = self.temperature is not None or self.top_p is not None
        return pb.GenerationConfig(
            max_new_tokens=self.max_new_tokens,
            stop=list(self.stop),
            do_sample=sample,
            temperature=self.temperature,
            top_p=self.top_p,
            seed=self.seed,
        )


def stream(
    settings: Settings,
    model: str,
    decoding: Decoding,
    *,
    prompt: str = "",
    messages: Sequence[tuple[str, str]] = (),
) -> Iterator[pb.GenerateResponse]:
    """The `Generate` stream for a raw prompt or a conversation of (role, content) turns."""
    name, version_id = split_ref(model)
    request = pb.GenerateRequest(
        model=refs_pb2.ModelRef(name=name, version_id=version_id),
        variant=model_pb2.MODEL_VARIANT_INT8 if decoding.int8 else model_pb2.MODEL_VARIANT_FP32,
        messages=[example_pb2.ChatMessage(role=role, content=content) for role, content in messages],
        prompt=prompt,
        config=decoding.config(),
    )
    with InferenceClient(settings) as client:
        yield from client.generate(request, timeout_s=decoding.timeout_s)


def print_stream(console: Console, responses: Iterator[pb.GenerateResponse]) -> str:
    """Print each text delta as it arrives, then a dim line with the usage; return the text."""
    parts: list[str] = []
    last = pb.GenerateResponse()
    for response in responses:
        if response.text_delta:
            console.print(response.text_delta, end="", markup=False, highlight=False, soft_wrap=True)
            parts.append(response.text_delta)
        last = response
    console.print()
    usage = last.usage
    reason = _FINISH.get(last.finish_reason, "?")
    if last.stop_sequence:
        reason += f" {last.stop_sequence!r}"
    console.print(
        f"[dim]{usage.completion_tokens} tokens ({reason}); prompt {usage.prompt_tokens} tokens; "
        f"first token {usage.time_to_first_token_ms:.0f} ms; {usage.tokens_per_s:.1f} tokens/s[/dim]"
    )
    return "".join(parts)


@dataclass
class Conversation:
    """The turns so far (a system prompt first, when given)."""

    system: str = ""
    turns: list[tuple[str, str]] = field(default_factory=list)

    def messages(self) -> list[tuple[str, str]]:
        return ([("system", self.system)] if self.system else []) + self.turns


def chat_loop(console: Console, settings: Settings, model: str, decoding: Decoding, system: str = "") -> None:
    """Read a user turn, stream the reply, keep both; `/reset` forgets, `/exit` or EOF ends."""
    conversation = Conversation(system)
    console.print(f"[dim]chatting with {model}; /reset starts over, /exit (or Ctrl-D) ends[/dim]")
    while True:
        try:
            line = console.input("[bold cyan]you>[/bold cyan] ")
        except EOFError:
            console.print()
            return
        if line.strip() == "/exit":
            return
        if line.strip() == "/reset":
            conversation = Conversation(system)
            continue
        if not line.strip():
            continue
        conversation.turns.append(("user", line))
        console.print("[bold green]assistant>[/bold green] ", end="")
        try:
            reply = print_stream(console, stream(settings, model, decoding, messages=conversation.messages()))
        except BaseException:
            conversation.turns.pop()  # the turn got no reply: leave it out
            raise
        conversation.turns.append(("assistant", reply))


__all__ = ["Conversation", "Decoding", "chat_loop", "print_stream", "stream"]
