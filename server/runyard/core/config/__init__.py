"""Targets, jobs and sweeps: the YAML files under `.runyard/`, loaded into dataclasses.

- `.runyard/targets/<name>.yml`: where jobs run (schema: core/schemas/target.schema.json);
- `.runyard/jobs/<name>.yml`: saved run configurations (schema: core/schemas/job.schema.json);
- `.runyard/sweeps/<name>.yml`: searches of a parameter space, each trial a run of a job
  (schema: core/schemas/sweep.schema.json; `SweepConfig`);
- `.runyard/config.yml`: project settings: `default_target` (`default_target` module) and
  `store:` (the run store: absent or `sqlite` for the project's SQLite file, else a
  PostgreSQL URL without a password, with a schema of its own where several projects
  share a database; `RUNYARD_STORE_URL` wins over it: `settings.store_setting`, read by
  `runyard.core.store.Store`).

Every problem in a file is a `ConfigError` that names the file, line, column and field,
says what is wrong and what is expected. `validate_document` gives all of them at once
(for the language server); the loaders raise the first one.

Speed: PyYAML and jsonschema are imported only when needed, and a file that validated
cleanly once is remembered (by hash) in `.runyard/state/cache/config-valid.json`, so
loading it again does not import jsonschema at all.

The package, by concern (each module imports only those above it):
- `errors`: `ConfigError` and how its message is put together;
- `settings`: `TargetConfig`, `JobConfig`, `Kind` and the rule for names; the store
  setting (`store_setting`, `redact_url`);
- `schema`: the JSON Schemas, and what a schema expects, in words;
- `layout`: where the files are, reading and writing their bytes, the project's files;
- `sweeps`: `SweepConfig` and the checks of sweep files the schema cannot express;
- `checks`: schema validation, the semantic checks, the checks against the project;
- `cache`: the parsed-file cache of documents that checked cleanly;
- `default_target`: `.runyard/config.yml` and the project's default target;
- `files`: loading, listing, writing and removing target and job files; loading sweeps.

Importers use the names below from `runyard.core.config`; they are the package's API.
"""

from runyard.core.config.checks import validate_document
from runyard.core.config.default_target import default_target_name, set_default_target
from runyard.core.config.errors import ConfigError
from runyard.core.config.files import (
    init_project,
    list_jobs,
    list_targets,
    load_job,
    load_sweep,
    load_target,
    remove_target,
    write_target,
)
from runyard.core.config.layout import job_names, project_files, sweep_names, target_names
from runyard.core.config.schema import load_schema, schema_path, schema_properties
from runyard.core.config.settings import JobConfig, Kind, TargetConfig
from runyard.core.config.sweeps import EarlyStopping, Param, SweepConfig, param_argument

__all__ = [
    "ConfigError",
    "EarlyStopping",
    "JobConfig",
    "Kind",
    "Param",
    "SweepConfig",
    "TargetConfig",
    "default_target_name",
    "init_project",
    "job_names",
    "list_jobs",
    "list_targets",
    "load_job",
    "load_schema",
    "load_sweep",
    "load_target",
    "param_argument",
    "project_files",
    "remove_target",
    "schema_path",
    "schema_properties",
    "set_default_target",
    "sweep_names",
    "target_names",
    "validate_document",
    "write_target",
]
