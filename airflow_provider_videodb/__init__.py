"""Apache Airflow provider for VideoDB."""

from __future__ import annotations

__version__ = "0.1.0"
