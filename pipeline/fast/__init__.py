"""Fast style transfer (Johnson et al. 2016, "Perceptual Losses for Real-Time Style Transfer"):
a feed-forward network trained once per style, then one forward pass per photo.

``network`` (the image transformation network, with optional label channels), ``config`` (the
training settings), ``data`` (the training batches, a pure function of the seed and the step),
``train`` (training with the perceptual losses on a VGG-16 loss network, guided Gram loss for
masked styles), ``checkpoints`` (exact resume), ``stability`` (the temporal term: pairs moved by a
known motion), ``model`` (the model file, stylising on any device, compiled on GPUs), ``export``
(the ONNX export, int8 too) and ``runtime`` (an exported model in onnxruntime).
"""
