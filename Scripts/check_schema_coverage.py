#!/usr/bin/env python3
"""Validates generated JSON instances against the structured-output schema corpus.

Reads JSONL lines {"name": ..., "instance": ...} on stdin (for example the samples the
GrammarSamplerTests corpus test writes when PEREGRINE_SCHEMA_SAMPLES=path is set) and checks
each instance against the schema of that name in Benchmarks/structured/schemas.jsonl with
Python's `jsonschema` (Draft 2020-12, with format checking). Prints, per schema and overall,
how many instances validated, and the share of corpus schemas that had instances (compiled)
and whose instances all validated.

    PEREGRINE_SCHEMA_SAMPLES=/tmp/samples.jsonl swift test ... --filter GrammarSamplerTests
    python3 Scripts/check_schema_coverage.py < /tmp/samples.jsonl

Exit status 1 when any instance fails validation.
"""
import json
import pathlib
import subprocess
import sys

try:
    import jsonschema
except ImportError:  # install on first use
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", "jsonschema"])
    import jsonschema

CORPUS = pathlib.Path(__file__).resolve().parent.parent / "Benchmarks" / "structured" / "schemas.jsonl"


def from_openapi30(node):
    """Rewrites OpenAPI 3.0 keywords that the converter honours into Draft 2020-12:
    `nullable: true` adds "null" to `type`, boolean `exclusiveMinimum`/`exclusiveMaximum`
    turn `minimum`/`maximum` exclusive."""
    if isinstance(node, list):
        return [from_openapi30(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: from_openapi30(v) for k, v in node.items()}
    if out.pop("nullable", False) is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        elif isinstance(out.get("type"), list) and "null" not in out["type"]:
            out["type"] = out["type"] + ["null"]
        elif "enum" not in out and "type" not in out:
            out = {"anyOf": [out, {"type": "null"}]}
    for flag, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(flag), bool):
            if out.pop(flag) and bound in out:
                out[flag] = out.pop(bound)
    return out


def main() -> int:
    corpus = {}
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        if line.strip():
            entry = json.loads(line)
            corpus[entry["name"]] = from_openapi30(entry["schema"])

    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    counts = {}  # name -> [valid, total]
    failures = []
    for n, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        record = json.loads(line)
        name = record["name"]
        if name not in corpus:
            print(f"line {n}: unknown schema {name!r}", file=sys.stderr)
            continue
        schema = corpus[name]
        validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        validator = validator_class(schema, format_checker=checker)
        errors = list(validator.iter_errors(record["instance"]))
        tally = counts.setdefault(name, [0, 0])
        tally[1] += 1
        if errors:
            failures.append((name, errors[0].message, json.dumps(record["instance"])[:300]))
        else:
            tally[0] += 1

    for name in sorted(counts):
        valid, total = counts[name]
        mark = "ok  " if valid == total else "FAIL"
        print(f"{mark} {name}: {valid}/{total}")
    for name, message, instance in failures[:50]:
        print(f"  {name}: {message}\n    {instance}")
    compiled = len(counts)
    clean = sum(1 for v, t in counts.values() if v == t)
    instances = sum(t for _, t in counts.values())
    valid = sum(v for v, _ in counts.values())
    print(f"schemas with instances (compiled): {compiled}/{len(corpus)} = {compiled / max(1, len(corpus)):.1%}")
    print(f"schemas whose instances all validate: {clean}/{len(corpus)} = {clean / max(1, len(corpus)):.1%}")
    print(f"instances valid: {valid}/{instances}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
