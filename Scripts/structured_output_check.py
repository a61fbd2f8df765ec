#!/usr/bin/env python3
"""Structured output and tool calling through the official `openai` client against a live
`peregrine serve` (run it with Scripts/serve_check.sh).

- `response_format` json_schema (strict) parsed into a Pydantic model by the client's `parse`
  helper; json_object; vLLM's `structured_outputs` regex, choice and grammar (GBNF);
- tools with `tool_choice` required and named, streaming and not (the streamed deltas, put back
  together, equal the whole answer), and a multi-turn loop with `role: "tool"` results;
- a schema keyword that cannot be enforced is a 400 naming it;
- with --coverage N, the first N schemas of Benchmarks/structured/schemas.jsonl: the share that
  compile and whose greedy output validates.

Every JSON output is validated against its schema with the `jsonschema` package.
"""
import argparse
import json
import pathlib
import re
import sys

import jsonschema
import openai
import pydantic

failures = []


def check(name, condition, detail=""):
    print(("ok   " if condition else "FAIL ") + name + ("" if condition else f": {detail}"))
    if not condition:
        failures.append(name)


def valid(instance, schema):
    try:
        try:
            jsonschema.validate(instance, schema)
        except jsonschema.SchemaError:
            # Draft 4's boolean exclusiveMinimum/Maximum (older schemas still use it).
            jsonschema.Draft4Validator(schema).validate(instance)
        return True
    except jsonschema.ValidationError as error:
        print(f"     invalid: {error.message}")
        return False


class CalendarEvent(pydantic.BaseModel):
    name: str
    day: int
    participants: list[str]


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "maxLength": 40},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
    },
}
SEARCH = {
    "type": "function",
    "function": {
        "name": "search",
        "description": "Search the web.",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string", "maxLength": 60}, "limit": {"type": "integer", "minimum": 1, "maximum": 10}},
            "required": ["query", "limit"],
            "additionalProperties": False,
        },
    },
}
TOOLS = [WEATHER, SEARCH]
SCHEMAS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}


def collect_stream(stream):
    """Content, tool calls and finish reason of a streamed chat answer, put back together."""
    content, calls, finish = "", {}, None
    for chunk in stream:
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        delta = choice.delta
        content += delta.content or ""
        for call in delta.tool_calls or []:
            entry = calls.setdefault(call.index, {"id": None, "name": "", "arguments": ""})
            if call.id:
                entry["id"] = call.id
            if call.function and call.function.name:
                entry["name"] = call.function.name
            if call.function and call.function.arguments:
                entry["arguments"] += call.function.arguments
        finish = choice.finish_reason or finish
    return content, [calls[i] for i in sorted(calls)], finish


def check_calls(name, calls, allowed):
    check(f"{name}: made tool calls", len(calls) >= 1, calls)
    for call in calls:
        check(f"{name}: call names a given function", call["name"] in allowed, call)
        try:
            arguments = json.loads(call["arguments"])
        except json.JSONDecodeError as error:
            check(f"{name}: arguments are JSON", False, f"{error}: {call['arguments']!r}")
            continue
        check(f"{name}: arguments validate against {call['name']}'s schema", valid(arguments, SCHEMAS.get(call["name"], {})),
              call["arguments"])


def response_formats(client, model):
    messages = [{"role": "system", "content": "Extract the event."},
                {"role": "user", "content": "Alice and Bob are going to a science fair on day 12."}]
    beta = getattr(getattr(client, "beta", None), "chat", None)
    parse = beta.completions.parse if beta is not None and hasattr(beta.completions, "parse") else client.chat.completions.parse
    completion = parse(model=model, messages=messages, response_format=CalendarEvent, max_tokens=200, temperature=0)
    event = completion.choices[0].message.parsed
    check("parse: response_format json_schema (strict) gives a CalendarEvent", isinstance(event, CalendarEvent), completion)
    if event is not None:
        check("parse: output validates against the Pydantic schema",
              valid(json.loads(completion.choices[0].message.content), CalendarEvent.model_json_schema()))

    obj = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Give a JSON object describing a cat."}],
                                         response_format={"type": "json_object"}, max_tokens=120, temperature=0)
    text = obj.choices[0].message.content
    try:
        parsed = json.loads(text) if obj.choices[0].finish_reason == "stop" else None
        check("json_object: output is a JSON object", isinstance(parsed, dict) or obj.choices[0].finish_reason == "length", text)
    except json.JSONDecodeError as error:
        check("json_object: output is a JSON object", False, f"{error}: {text!r}")

    regex = r"\d{3}-\d{4}"
    r = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Give me a phone number."}],
                                       extra_body={"structured_outputs": {"regex": regex}}, max_tokens=20, temperature=0)
    check("structured_outputs regex", re.fullmatch(regex, r.choices[0].message.content) is not None, r.choices[0].message.content)
    choices = ["positive", "negative", "neutral"]
    c = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Sentiment of: I love this!"}],
                                       extra_body={"structured_outputs": {"choice": choices}}, max_tokens=10, temperature=0)
    check("structured_outputs choice", c.choices[0].message.content in choices, c.choices[0].message.content)
    grammar = 'root ::= "The answer is " [0-9]+ "."'
    g = client.completions.create(model=model, prompt="What is 6 times 7?", max_tokens=12, temperature=0,
                                  extra_body={"structured_outputs": {"grammar": grammar}})
    check("structured_outputs grammar (completions API)", re.fullmatch(r"The answer is [0-9]+\.", g.choices[0].text) is not None,
          g.choices[0].text)

    try:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}], max_tokens=5,
                                       response_format={"type": "json_schema", "json_schema": {
                                           "name": "x", "schema": {"type": "object", "not": {"required": ["a"]}}}})
        check("unsupported keyword is a 400", False, "no error")
    except openai.BadRequestError as error:
        check("unsupported keyword is a 400 naming it", "'not'" in str(error), str(error))


def tool_calls(client, model):
    ask = [{"role": "user", "content": "What's the weather like in Paris today?"}]
    # A 135M model asked for parallel calls tends to list calls until max_tokens; one call per turn.
    one = {"parallel_tool_calls": False}
    for choice, label in (("required", "required"), ({"type": "function", "function": {"name": "get_weather"}}, "named")):
        whole = client.chat.completions.create(model=model, messages=ask, tools=TOOLS, tool_choice=choice, max_tokens=120, temperature=0, **one)
        message = whole.choices[0].message
        calls = [{"id": c.id, "name": c.function.name, "arguments": c.function.arguments} for c in message.tool_calls or []]
        check_calls(f"tool_choice {label}", calls, SCHEMAS)
        check(f"tool_choice {label}: ids are call_…", all((c["id"] or "").startswith("call_") for c in calls), calls)
        if label == "named":
            check("named: calls get_weather only", [c["name"] for c in calls] == ["get_weather"], calls)
        expected_finish = "tool_calls" if label == "required" else "stop"
        check(f"tool_choice {label}: finish_reason {expected_finish}", whole.choices[0].finish_reason == expected_finish,
              whole.choices[0].finish_reason)
        content, streamed, finish = collect_stream(client.chat.completions.create(
            model=model, messages=ask, tools=TOOLS, tool_choice=choice, max_tokens=120, temperature=0, stream=True, **one))
        check(f"tool_choice {label} streamed: same calls as the whole answer",
              [(c["name"], c["arguments"]) for c in streamed] == [(c["name"], c["arguments"]) for c in calls], (streamed, calls))
        check(f"tool_choice {label} streamed: finish_reason {expected_finish}", finish == expected_finish, finish)

    # A multi-turn loop: the model calls, the tool answers, the model answers in words.
    first = client.chat.completions.create(model=model, messages=ask, tools=TOOLS, tool_choice="required", max_tokens=120, temperature=0,
                                           **one)
    call = first.choices[0].message.tool_calls[0]
    history = ask + [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": call.id, "type": "function", "function": {"name": call.function.name, "arguments": call.function.arguments}}]},
        {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temperature": 21, "sky": "sunny"})},
    ]
    final = client.chat.completions.create(model=model, messages=history, tools=TOOLS, tool_choice="none", max_tokens=40, temperature=0)
    answer = final.choices[0].message
    check("tool loop: the answer after a tool result is text", bool(answer.content) and not answer.tool_calls, answer)
    again = client.chat.completions.create(model=model, messages=history, tools=TOOLS, tool_choice="auto", max_tokens=60, temperature=0)
    check("tool loop: tool_choice auto answers (text or a parsed call)",
          again.choices[0].message.content is not None or bool(again.choices[0].message.tool_calls), again.choices[0].message)
    for c in again.choices[0].message.tool_calls or []:
        check_calls("tool loop auto", [{"name": c.function.name, "arguments": c.function.arguments}], SCHEMAS)


def coverage(client, model, limit, extra):
    """Greedy outputs for the first `limit` corpus schemas. An output that finished must
    validate; one cut by max_tokens (a small model can loop inside a string) is counted apart."""
    path = pathlib.Path(__file__).resolve().parent.parent / "Benchmarks/structured/schemas.jsonl"
    entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()][:limit]
    compiled = finished = validated = 0
    for entry in entries:
        schema = entry["schema"]
        try:
            r = client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": f"Give an example {entry['name']} as JSON."}],
                response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema, "strict": True}},
                max_tokens=600, temperature=0, extra_body=extra)
        except openai.BadRequestError as error:
            print(f"     {entry['name']}: not compiled: {error.message}")
            continue
        compiled += 1
        text = r.choices[0].message.content
        if r.choices[0].finish_reason != "stop":
            print(f"     {entry['name']}: did not finish in 600 tokens: {text[:100]!r}")
            continue
        finished += 1
        try:
            ok = valid(json.loads(text), schema)
        except json.JSONDecodeError as error:
            print(f"     {entry['name']}: not JSON: {error}")
            ok = False
        validated += ok
    print(f"coverage: {compiled}/{len(entries)} compiled, {finished} finished within 600 tokens, "
          f"{validated}/{len(entries)} gave valid output ({validated / max(len(entries), 1):.0%})")
    check("coverage: every finished output validates against its schema", validated == finished, f"{validated} of {finished}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base-url", required=True)
    p.add_argument("--api-key", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--peregrine", default=".build/release/peregrine")
    p.add_argument("--coverage", type=int, default=0, help="check the first N corpus schemas")
    p.add_argument("--repetition-penalty", type=float, default=1.0, help="for the coverage run")
    args = p.parse_args()
    client = openai.OpenAI(base_url=args.base_url + "/v1", api_key=args.api_key, max_retries=0, timeout=300)
    response_formats(client, args.model)
    tool_calls(client, args.model)
    if args.coverage:
        extra = {"repetition_penalty": args.repetition_penalty} if args.repetition_penalty != 1 else None
        coverage(client, args.model, args.coverage, extra)
    if failures:
        sys.exit(f"{len(failures)} checks failed: {failures}")
    print("all structured-output checks passed")


if __name__ == "__main__":
    main()
