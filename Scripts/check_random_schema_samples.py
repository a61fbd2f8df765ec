#!/usr/bin/env python3
"""Validates the instances that RandomSchemaPropertyTests generates against their own schemas.

Reads one or more JSONL files of lines {"schema": ..., "instance": ...} (the test writes the
byte-level walks to $PEREGRINE_SCHEMA_SAMPLES and the token-level walks to
$PEREGRINE_SCHEMA_SAMPLES.tokens.jsonl) and checks each instance with Python's `jsonschema`
(Draft 2020-12, with format checking). Prints the share of valid instances per file and
overall, and the first few failures. Lines the test marked with "known_issue" (a long decimal
that rounds onto an exclusive bound when parsed as a double) are counted apart.

    F="-c release -Xswiftc -target-cpu -Xswiftc haswell -Xswiftc -enable-testing"
    PEREGRINE_SCHEMA_SAMPLES=/tmp/samples.jsonl swift test $F --skip-build --filter RandomSchemaPropertyTests
    python3 Scripts/check_random_schema_samples.py /tmp/samples.jsonl /tmp/samples.jsonl.tokens.jsonl

Exit status 1 when any instance without a known issue fails validation (or none was read).
"""
import json
import subprocess
import sys

try:
    import jsonschema
except ImportError:  # install on first use
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", "jsonschema"])
    import jsonschema


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__.strip().splitlines()[0])
        print("usage: check_random_schema_samples.py SAMPLES.jsonl [MORE.jsonl ...]")
        return 2
    Validator = jsonschema.Draft202012Validator
    checker = Validator.FORMAT_CHECKER
    validators: dict[str, jsonschema.protocols.Validator] = {}
    total = valid = known = 0
    failures: list[str] = []
    for path in paths:
        file_total = file_valid = file_known = 0
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                entry = json.loads(line)
                schema, instance = entry["schema"], entry["instance"]
                key = json.dumps(schema, sort_keys=True)
                validator = validators.get(key)
                if validator is None:
                    Validator.check_schema(schema)
                    validator = validators[key] = Validator(schema, format_checker=checker)
                errors = list(validator.iter_errors(instance))
                file_total += 1
                if errors and entry.get("known_issue"):
                    file_known += 1
                    print(f"known issue ({entry['known_issue']}) {path}:{number}: {errors[0].message}")
                elif errors:
                    if len(failures) < 10:
                        e = errors[0]
                        failures.append(f"{path}:{number}: {e.message} at {list(e.absolute_path)}\n"
                                        f"  instance: {json.dumps(instance, ensure_ascii=False)}\n"
                                        f"  schema: {json.dumps(schema, ensure_ascii=False)}")
                else:
                    file_valid += 1
        share = file_valid / file_total if file_total else 0.0
        print(f"{path}: {file_valid}/{file_total} valid ({share:.2%}), {file_known} invalid with a known issue")
        total += file_total
        valid += file_valid
        known += file_known
    print(f"overall: {valid}/{total} valid ({(valid / total if total else 0.0):.2%}), "
          f"{known} invalid with a known issue, {total - valid - known} other failures, "
          f"over {len(validators)} distinct schemas")
    for failure in failures:
        print("FAIL", failure)
    return 0 if total and valid + known == total else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
