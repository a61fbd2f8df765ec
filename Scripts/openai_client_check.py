#!/usr/bin/env python3
"""The official `openai` client against a live `peregrine serve` (run it with Scripts/serve_check.sh).

Completions and chat, streaming and not, n = 2, stop strings, logprobs in both APIs' shapes, an
invalid request (openai.BadRequestError), a wrong API key (openai.AuthenticationError), an unknown
model (openai.NotFoundError), and greedy chat output equal to `peregrine generate --chat`.
"""
import argparse
import subprocess
import sys

import openai

QUESTION = "What is the boiling point of water?"
failures = []


def check(name, condition, detail=""):
    print(("ok   " if condition else "FAIL ") + name + ("" if condition else f": {detail}"))
    if not condition:
        failures.append(name)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base-url", required=True)
    p.add_argument("--api-key", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--peregrine", default=".build/release/peregrine")
    args = p.parse_args()
    client = openai.OpenAI(base_url=args.base_url + "/v1", api_key=args.api_key, max_retries=0, timeout=300)
    model = args.model

    ids = [m.id for m in client.models.list().data]
    check("models.list names the served model", model in ids, ids)

    # Completions, greedy.
    c = client.completions.create(model=model, prompt="The capital of France is", max_tokens=16, temperature=0)
    text = c.choices[0].text
    check("completion text", text.startswith(" Paris"), repr(text))
    check("completion usage", (c.usage.prompt_tokens, c.usage.completion_tokens, c.usage.total_tokens) == (5, 16, 21), c.usage)
    check("completion finish_reason", c.choices[0].finish_reason == "length", c.choices[0].finish_reason)
    chunks = list(client.completions.create(model=model, prompt="The capital of France is", max_tokens=16, temperature=0,
                                            stream=True, stream_options={"include_usage": True}))
    streamed = "".join(ch.choices[0].text for ch in chunks if ch.choices)
    check("streamed completion equals the whole one", streamed == text, repr(streamed))
    check("streamed completion ends with usage", chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 16,
          chunks[-1])
    lp = client.completions.create(model=model, prompt="1, 2, 3, 4, 5,", max_tokens=6, temperature=0, logprobs=3)
    logprobs = lp.choices[0].logprobs
    check("completion logprobs shape", len(logprobs.tokens) == len(logprobs.token_logprobs) == len(logprobs.top_logprobs) == 6
          and all(v <= 0 for v in logprobs.token_logprobs) and all(1 <= len(t) <= 4 for t in logprobs.top_logprobs), logprobs)
    check("completion logprobs tokens spell the text", "".join(logprobs.tokens) == lp.choices[0].text, logprobs.tokens)
    echo = client.completions.create(model=model, prompt="Hello", max_tokens=2, echo=True, temperature=0)
    check("echo", echo.choices[0].text.startswith("Hello"), repr(echo.choices[0].text))

    # Chat, greedy, against `peregrine generate --chat`.
    messages = [{"role": "user", "content": QUESTION}]
    chat = client.chat.completions.create(model=model, messages=messages, max_tokens=48, temperature=0)
    content = chat.choices[0].message.content
    generated = subprocess.run([args.peregrine, "generate", "--chat", QUESTION, "--temperature", "0", "--max-tokens", "48"],
                               capture_output=True, text=True, check=True).stdout
    check("greedy chat equals `peregrine generate --chat`", content == generated.removesuffix("\n"),
          f"{content!r} vs {generated!r}")
    check("chat starts as llama.cpp's", content.startswith("The boiling point of water is approximately 100°C"), repr(content))
    check("chat usage", chat.usage.prompt_tokens == 38 and chat.usage.completion_tokens == 48, chat.usage)
    check("chat role", chat.choices[0].message.role == "assistant", chat.choices[0].message.role)
    stream = client.chat.completions.create(model=model, messages=messages, max_tokens=48, temperature=0, stream=True,
                                            stream_options={"include_usage": True})
    pieces, usage, finish = [], None, None
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    check("streamed chat equals the whole one", "".join(pieces) == content, "".join(pieces))
    check("streamed chat usage and finish", usage is not None and usage.completion_tokens == 48 and finish == "length",
          (usage, finish))

    # n = 2, sampled and seeded.
    two = client.chat.completions.create(model=model, messages=messages, max_tokens=12, n=2, temperature=0.9, seed=3)
    check("n = 2 gives two choices", sorted(c.index for c in two.choices) == [0, 1], two.choices)
    check("n = 2 usage counts both", two.usage.completion_tokens == 24 or any(c.finish_reason == "stop" for c in two.choices),
          two.usage)
    again = client.chat.completions.create(model=model, messages=messages, max_tokens=12, n=2, temperature=0.9, seed=3)
    check("seeded sampling is reproducible", [c.message.content for c in two.choices] == [c.message.content for c in again.choices])

    # Stop strings.
    stopped = client.chat.completions.create(model=model, messages=messages, max_tokens=48, temperature=0, stop=["water", "zzz"])
    check("stop string", stopped.choices[0].message.content == "The boiling point of " and stopped.choices[0].finish_reason == "stop",
          (stopped.choices[0].message.content, stopped.choices[0].finish_reason))

    # Chat logprobs.
    lp = client.chat.completions.create(model=model, messages=messages, max_tokens=5, temperature=0, logprobs=True, top_logprobs=3)
    entries = lp.choices[0].logprobs.content
    check("chat logprobs shape", len(entries) == 5 and all(len(e.top_logprobs) == 3 and e.logprob <= 0 and e.bytes for e in entries),
          entries)
    check("chat logprobs tokens spell the text", "".join(e.token for e in entries) == lp.choices[0].message.content)

    # Errors.
    try:
        client.chat.completions.create(model=model, messages=messages, temperature=-1)
        check("invalid request raises BadRequestError", False, "no error")
    except openai.BadRequestError as e:
        check("invalid request raises BadRequestError", e.status_code == 400 and e.body.get("param") == "temperature", e.body)
    try:
        client.completions.create(model=model, prompt="x", max_tokens=100000)
        check("context overflow raises BadRequestError", False, "no error")
    except openai.BadRequestError as e:
        check("context overflow raises BadRequestError", e.body.get("code") == "context_length_exceeded", e.body)
    try:
        client.chat.completions.create(model="gpt-4o", messages=messages)
        check("unknown model raises NotFoundError", False, "no error")
    except openai.NotFoundError as e:
        check("unknown model raises NotFoundError", e.status_code == 404, e)
    wrong = openai.OpenAI(base_url=args.base_url + "/v1", api_key=args.api_key + "x", max_retries=0)
    try:
        wrong.chat.completions.create(model=model, messages=messages, max_tokens=1)
        check("wrong API key raises AuthenticationError", False, "no error")
    except openai.AuthenticationError as e:
        check("wrong API key raises AuthenticationError", e.status_code == 401, e)

    print(f"{len(failures)} failed" if failures else "all checks passed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
