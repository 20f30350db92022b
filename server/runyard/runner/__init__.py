"""Run orchestration: submitting a run, the supervisor that owns its lifecycle, taking
over a run whose supervisor died, and bringing what a run wrote into the store (its
tracking records, its TensorBoard event files).

Layers, bottom up: `tracking` ← `core` ← `targets` ← `runner` ← {`cli`, `lsp`}.
`core` holds data and rules (project files, the store, snapshots, environments) and
imports no backend; `targets` are the backends; this package drives them; the two
faces only parse input and render output.
"""
