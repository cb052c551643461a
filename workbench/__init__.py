"""audioldm_daw.workbench: everything that makes a model folder rather than plays one.

- :mod:`.training`   the AudioLDM training pipeline (CLAP, VAE, vocoder, LDM; assembling; fine-tuning);
- :mod:`.dataset`    the synthetic captioned dataset those stages train and evaluate on;
- :mod:`.convert`    the original AudioLDM checkpoints into model folders;
- :mod:`.evaluation` objective scores of a model folder on held-out prompts.

It is kept apart from :mod:`audioldm_daw.engine` so that the runtime a DAW talks to stays small and carries none of
this. The arrows point one way: the workbench builds on the engine (its model layout, mel, CLAP and the engine itself
for evaluation) and the bridge's commands call the workbench; nothing in the engine or in the export package imports
the workbench, and the workbench never imports the bridge. This file imports nothing, so ``import
audioldm_daw.workbench`` costs nothing until a subpackage is used.
"""
