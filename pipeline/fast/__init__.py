"""Fast style transfer (Johnson et al. 2016, "Perceptual Losses for Real-Time Style Transfer"):
a feed-forward network trained once per style, then one forward pass per photo.

``network`` (the image transformation network), ``train`` (training with the perceptual losses
on a VGG-16 loss network, checkpoints and exact resume), ``model`` (the model file and stylising).
"""
