"""What the connection-form tests need to know about the installed Airflow.

Airflow 3.1's API server builds the form from the hook's WTForms widgets; without the real
WTForms it puts stand-in ``wtforms``/``flask_appbuilder`` modules into ``sys.modules``, which a
later ``import`` or ``importlib.util.find_spec`` then finds. So whether the real libraries are
installed is asked of the installed distributions, not of the import system.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, distribution

import airflow
import pytest
from packaging.version import Version

#: Airflow from which the UI renders the provider info's ``conn-fields`` JSON schemas.
SCHEMA_FORM_SINCE = Version("3.2")


def require_real_wtforms() -> None:
    """Skip the calling test unless WTForms and Flask-AppBuilder are really installed."""
    for name in ("WTForms", "Flask-AppBuilder"):
        try:
            distribution(name)
        except PackageNotFoundError:
            pytest.skip(f"{name} is not installed (the WTForms connection form needs it)")


def schema_form() -> bool:
    """True when this Airflow's UI renders ``conn-fields`` (3.2+), not WTForms widgets."""
    return Version(Version(airflow.__version__).base_version) >= SCHEMA_FORM_SINCE
