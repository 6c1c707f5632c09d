"""Settings parsed and validated once, at start.

Every variable of the contract (section 1 and the waves after it) is read here
and nowhere else, and declared once: a field of :class:`Settings` in
:mod:`bridge.config.settings` names the variable, its parser, its default and
the sentence that explains it. :func:`load_settings`, `.env.example` and
docs/configuration.md all come from that table (:mod:`bridge.config.reference`;
`python -m bridge.config --write` rewrites the two files). A bad value raises
:class:`ConfigError` whose message is one line naming the variable and never
the value, so a start-up failure cannot leak a secret.
"""

from bridge.config.parse import FALSE_WORDS, TRUE_WORDS, ConfigError, parse_bool
from bridge.config.settings import (
    SERVER_VARIABLES,
    VARIABLES,
    Settings,
    Variable,
    default_database_url,
    load_settings,
    names_read_by_the_bridge,
    read_port,
    variable,
)

__all__ = [
    "FALSE_WORDS",
    "SERVER_VARIABLES",
    "TRUE_WORDS",
    "VARIABLES",
    "ConfigError",
    "Settings",
    "Variable",
    "default_database_url",
    "load_settings",
    "names_read_by_the_bridge",
    "parse_bool",
    "read_port",
    "variable",
]
