"""audioldm_daw.workbench.training: the AudioLDM training pipeline, every stage, on CPU or GPU(s).

Stages (each a :class:`~.loop.Stage` run by the one loop in :mod:`.loop`):

- :mod:`.clap`    contrastive text-audio training of a transformers ClapModel (needs captions);
- :mod:`.vae`     diffusers AutoencoderKL on the paper's log-mel spectrograms (:mod:`audioldm_daw.engine.mel`);
- :mod:`.vocoder` transformers SpeechT5HifiGan from log-mel to 16 kHz audio;
- :mod:`.ldm`     diffusers UNet2DConditionModel on VAE latents, conditioned on CLAP *audio* embeddings
                  (no captions needed), dropped 10% of the time for classifier-free guidance;
- :mod:`.assemble` the four into one model folder; :mod:`.finetune` a parent's UNet on new audio.

Imports are lazy at the module level (torch/diffusers load when a stage runs), and nothing here imports
the bridge or export packages.
"""

from audioldm_daw.workbench.training.loop import TrainConfig, TrainResult, run

__all__ = ["TrainConfig", "TrainResult", "run"]
