"""Stylesnake: semantic-segmentation-guided neural style transfer.

One module per stage: ``io`` (images in and out), ``masks`` (painted masks → exact label maps),
``features`` (the VGG-19 encoder and its weights), ``guidance`` (region guides per layer),
``losses`` (content, Gram and guided Gram style, total variation), ``optim`` (L-BFGS),
``gatys`` (the optimisation of Gatys et al. 2015/2016), ``cli`` (the ``stylesnake`` command).
Helpers: ``device``, ``samples`` (demo images), ``synthetic`` (painted masks with ground truth).
"""

__version__ = "0.1.0"
