"""`python -m bench` (make bench): the complaint lifecycle against the bare Temporal ceiling,
on an embedded stack of its own (docs/performance.md). Development only: the wheel does not
carry it, and the product never imports it (an import contract in pyproject.toml says so).

- `__main__`: `python -m bench [flags]`, the command line;
- `options`: the benchmark's options and flags (what `python -m bench --help` shows);
- `run`: the phases, the scripted actors and the report's numbers;
- `report`: the targets, the notes and the table printed;
- `history`: what a recorded history says (the shape the ceiling mirrors, timer lateness);
- `ceiling`: the bare workflow of the same shape and its no-op activity;
- `stack`: PostgreSQL, the Temporal dev server and a counting SMTP sink, in a temporary folder;
- `worker`: the worker under test, `python -m bench.worker lifecycle|ceiling`.
"""
