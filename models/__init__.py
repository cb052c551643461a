"""The bundled model's package: ``audioldm_daw.models`` holds ``audioldm-daw-mini/`` as package data.

A package, not a bare folder, so that a wheel and an sdist carry the model and ``importlib.resources`` finds it
wherever ``audioldm_daw`` is installed (engine/model.py, ``bundled_model_dir``). No code lives here.
"""
