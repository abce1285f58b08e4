"""Stylesnake: semantic-segmentation-guided neural style transfer.

One module per stage: ``io`` (images in and out), ``features`` (the VGG-19 encoder and its
weights), ``losses`` (Gram, content, style and total-variation losses), ``gatys`` (the
optimisation of Gatys et al. 2015), ``cli`` (the ``stylesnake`` command).
"""

__version__ = "0.1.0"
