import gc

__all__: list[str] = []  # nothing here overrides airflow.settings
gc.freeze()
