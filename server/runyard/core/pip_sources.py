"""Where pip would take packages from, and the same sources said to uv.

Environments are built with uv where it is available and with pip where it is not
(`runyard.core.envs`); both must install from the same places, or the same spec could
give different packages depending on the installer. pip reads its configuration itself;
uv reads none of it. So this module reads pip's configuration the way pip does and
turns it into uv's arguments and environment (`uv_install_options`):

- the files, later ones overriding earlier ones: ``pip/pip.conf`` under each
  ``$XDG_CONFIG_DIRS`` folder (``/etc/xdg``) and ``/etc/pip.conf``; the user's
  ``~/.pip/pip.conf`` and ``$XDG_CONFIG_HOME/pip/pip.conf`` (skipped when
  ``$PIP_CONFIG_FILE`` names a file that exists); then ``$PIP_CONFIG_FILE``, which
  turns every file off when it is ``/dev/null``. In each, ``[global]`` and then
  ``[install]``;
- then the ``PIP_*`` variables, which win over every file;
- then the target's `index_url`, which wins over all of them (pip is given it as
  ``PIP_INDEX_URL``).

What is read: the index (``index-url``), the extra indexes, ``find-links``,
``no-index``, constraint files, trusted hosts and the CA bundle (``cert``, or
``$REQUESTS_CA_BUNDLE`` / ``$CURL_CA_BUNDLE``, which pip's HTTP library prefers;
without one, uv trusts the system's certificates where the system has them). pip looks
for a package in every index at once and takes the best version; uv, by default, stops
at the first index that has it, so it is told to do as pip does
(``--index-strategy unsafe-best-match``). Index addresses may carry credentials: they
go to uv in its environment (``UV_INDEX_URL``, ``UV_EXTRA_INDEX_URL``), never on its
command line, where any user of the machine could read them. uv's own configuration
files are not read (``--no-config``): neither installer sees a source the other does not.

This module also runs as a program where an environment is built elsewhere, with the
interpreter there: on an ``ssh`` target's machine (`main` prints the options as JSON),
and in the first stage of a Docker environment image (``--sh``: shell lines to
``eval``), so that uv uses the pip configuration of the place it builds in. So:
standard library only, Python 3.8 syntax.
"""

from __future__ import annotations

import configparser
import json
import os
import shlex
import sys
from collections.abc import Mapping

SECTIONS = ("global", "install")  # pip's order: a command's own section wins
LISTS = ("extra-index-url", "find-links", "constraint", "trusted-host")
KEYS = ("index-url", "no-index", "cert", *LISTS)
SYSTEM_FILE = "/etc/pip.conf"  # read after the $XDG_CONFIG_DIRS ones, as pip does
# Where a system keeps its certificate authorities: with one, uv uses the system's as pip
# does; without (a bare base image), uv's own, as pip then uses the ones it carries.
SYSTEM_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
)


def config_files(environ: Mapping[str, str] | None = None) -> list[str]:
    """pip's configuration files, in the order pip reads them (later ones win)."""
    env = os.environ if environ is None else environ
    chosen = env.get("PIP_CONFIG_FILE")
    if chosen == os.devnull:
        return []
    dirs = (env.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(os.pathsep)
    files = [os.path.join(d, "pip", "pip.conf") for d in dirs if d] + [SYSTEM_FILE]
    if not (chosen and os.path.exists(chosen)):
        home = env.get("HOME") or os.path.expanduser("~")
        config_home = env.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
        files += [
            os.path.join(home, ".pip", "pip.conf"),
            os.path.join(config_home, "pip", "pip.conf"),
        ]
    if chosen:
        files.append(chosen)
    return files


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "yes", "true", "on")


def read_settings(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """pip's settings of `KEYS` as text, from its files and then its variables."""
    env = os.environ if environ is None else environ
    settings: dict[str, str] = {}
    for path in config_files(env):
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, OSError, UnicodeDecodeError):
            continue  # pip would refuse it; the build says so in pip's own words
        for section in SECTIONS:
            if parser.has_section(section):
                for key, value in parser.items(section):
                    key = key.replace("_", "-")
                    if key in KEYS:
                        settings[key] = value
    for key in KEYS:
        variable = env.get("PIP_" + key.upper().replace("-", "_"))
        if variable is not None:
            settings[key] = variable
    return settings


def uv_install_options(
    index_url: str | None = None, environ: Mapping[str, str] | None = None
) -> tuple[list[str], dict[str, str]]:
    """(arguments, environment variables) that give ``uv pip install`` pip's sources;
    `index_url` is the target's own index, which wins over pip's."""
    settings = read_settings(environ)
    if index_url:
        settings["index-url"] = index_url
    args: list[str] = ["--no-config"]
    env: dict[str, str] = {}
    lists = {key: settings.get(key, "").split() for key in LISTS}
    if settings.get("index-url"):
        env["UV_INDEX_URL"] = settings["index-url"].strip()
    if lists["extra-index-url"]:
        env["UV_EXTRA_INDEX_URL"] = " ".join(lists["extra-index-url"])
    if lists["extra-index-url"] or lists["find-links"]:
        args += ["--index-strategy", "unsafe-best-match"]
    for link in lists["find-links"]:
        args += ["--find-links", link]
    for path in lists["constraint"]:
        args += ["--constraints", path]
    for host in lists["trusted-host"]:
        args += ["--allow-insecure-host", host]
    if _truthy(settings.get("no-index", "")):
        args.append("--no-index")
    # pip's HTTP library takes these over pip's own `cert` when they are set
    variables = os.environ if environ is None else environ
    bundle = variables.get("REQUESTS_CA_BUNDLE") or variables.get("CURL_CA_BUNDLE")
    if bundle or settings.get("cert"):
        env["SSL_CERT_FILE"] = (bundle or settings["cert"]).strip()
    elif any(os.path.isfile(path) and os.path.getsize(path) > 0 for path in SYSTEM_BUNDLES):
        env["UV_NATIVE_TLS"] = "1"  # the system's certificates, which pip trusts too
    return args, env


def main() -> None:
    """``--sh``: shell lines that export the variables and set the arguments (``"$@"``),
    for ``eval`` in a Docker build; else JSON ``{"args": [...], "env": {...}}``. The
    index is pip's; the caller sets the target's own (``PIP_CONFIG_FILE`` or after)."""
    args, env = uv_install_options()
    if sys.argv[1:] == ["--sh"]:
        for name, value in sorted(env.items()):
            print(f"export {name}={shlex.quote(value)}")
        print("set -- " + " ".join(shlex.quote(a) for a in args))
    else:
        print(json.dumps({"args": args, "env": env}))


if __name__ == "__main__":
    main()
