"""The style-transfer core, shared by both methods and by clips: the VGG encoder
(:mod:`~pipeline.core.features`), the perceptual losses (:mod:`~pipeline.core.losses`), guide
channels at every layer (:mod:`~pipeline.core.channels`) and the guided style loss over paired
regions (:mod:`~pipeline.core.guidance`), a style image's targets (:mod:`~pipeline.core.targets`),
colour control (:mod:`~pipeline.core.color`), and the optimisation loop
(:mod:`~pipeline.core.optim` over :mod:`~pipeline.core.lbfgs`)."""
