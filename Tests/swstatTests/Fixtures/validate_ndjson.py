#!/usr/bin/python3
"""Validate every line of NDJSON on stdin against a JSON Schema file: prints 'N lines valid'
or the first bad line with the reason, and exits 1 on any failure."""
import json
import sys

import jsonschema

schema = json.load(open(sys.argv[1]))
validator = jsonschema.Draft202012Validator(schema)
n = 0
for number, line in enumerate(sys.stdin, 1):
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        print(f'line {number}: not JSON: {e}: {line!r}')
        sys.exit(1)
    errors = list(validator.iter_errors(obj))
    if errors:
        print(f'line {number}: {errors[0].message} at {list(errors[0].path)}: {line.strip()}')
        sys.exit(1)
    n += 1
print(f'{n} lines valid')
