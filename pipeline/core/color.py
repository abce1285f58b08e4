"""Colour control (Gatys et al., "Controlling Perceptual Factors in Neural Style Transfer", 2017):
keep the photo's colours while taking the painting's brush strokes.

Two ways, as in the paper:

- ``preserve`` — luminance-only transfer: both images become their luminance Y (the style's Y
  shifted and scaled to the content's mean and spread), the transfer runs on that grey image,
  and the result's Y is put together with the content's chroma (YIQ). :func:`recombine` keeps
  the chroma exactly: where the new Y would push a pixel out of the RGB cube, Y is clipped to the
  range that keeps it inside, rather than clipping R, G and B (which would change the hue).
- ``match`` — colour matching: before the transfer, the style image gets the content's colour
  mean and covariance by a linear map ``x' = A (x − μ_s) + μ_c`` with ``A Σ_s Aᵀ = Σ_c``. Three
  choices of A: ``sym`` (``Σ_c^½ Σ_s^-½``, the symmetric square roots; our default: it rotates
  colours least), ``chol`` (``L_c L_s⁻¹``, Cholesky factors) and ``pca`` (eigenvectors: the
  style's principal colour axes mapped onto the content's).

With masks both work region by region: a region's statistics come from that region of the content
and of the style image that paints it.
"""

from __future__ import annotations

import torch

COLOUR_MODES = ("none", "preserve", "match")
MATCH_METHODS = ("sym", "chol", "pca")

#: RGB → YIQ (NTSC); Y is the luminance ``.299 R + .587 G + .114 B``.
YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]])
_EPS = 1e-5


def rgb_to_yiq(image: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB → YIQ."""
    return torch.einsum("ij,bjhw->bihw", YIQ.to(image), image)


def yiq_to_rgb(image: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) YIQ → RGB (not clipped)."""
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(YIQ.double()).to(image), image)


def _regions(image: torch.Tensor, masks: torch.Tensor | None) -> torch.Tensor:
    """(R, H·W) boolean region masks; the whole image when ``masks`` is None."""
    h, w = image.shape[-2:]
    if masks is None:
        return torch.ones(1, h * w, dtype=torch.bool, device=image.device)
    return masks.reshape(len(masks), h * w).to(image.device) > 0.5


def luminance(image: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) luminance Y."""
    return rgb_to_yiq(image)[:, :1]


def luminance_image(
    style: torch.Tensor,
    content: torch.Tensor,
    *,
    style_masks: torch.Tensor | None = None,
    content_masks: torch.Tensor | None = None,
) -> torch.Tensor:
    """The style's luminance with the content's mean and spread (per region when masks are given:
    region r of the style takes region r of the content's), as a grey RGB image in [0, 1]."""
    y_style, y_content = luminance(style)[0, 0].flatten(), luminance(content)[0, 0].flatten()
    out = y_style.clone()
    for s_region, c_region in zip(_regions(style, style_masks), _regions(content, content_masks), strict=True):
        if not s_region.any() or not c_region.any():
            continue
        source, target = y_style[s_region], y_content[c_region]
        scale = target.std(unbiased=False) / source.std(unbiased=False).clamp_min(_EPS)
        out[s_region] = (source - source.mean()) * scale + target.mean()
    return out.clamp(0, 1).reshape(1, 1, *style.shape[-2:]).expand(1, 3, *style.shape[-2:]).contiguous()


def recombine(result: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The result's luminance with the content's chroma (I, Q), in RGB.

    RGB = Y + d with d the chroma's offsets per channel, so Y is clipped to [max(−d), min(1 − d)]:
    every pixel stays in the RGB cube with exactly the content's I and Q (the content's own Y lies
    in that range, so it is never empty).
    """
    yiq = rgb_to_yiq(content)
    offsets = yiq_to_rgb(torch.cat([torch.zeros_like(yiq[:, :1]), yiq[:, 1:]], dim=1))  # (B, 3, H, W)
    low, high = (-offsets).amax(dim=1, keepdim=True), (1 - offsets).amin(dim=1, keepdim=True)
    y = torch.maximum(torch.minimum(luminance(result), high), low)
    return yiq_to_rgb(torch.cat([y, yiq[:, 1:]], dim=1))


def _sqrtm(matrix: torch.Tensor, power: float) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(matrix)
    return vectors @ torch.diag(values.clamp_min(_EPS) ** power) @ vectors.T


def colour_map(style_pixels: torch.Tensor, content_pixels: torch.Tensor, method: str = "sym") -> torch.Tensor:
    """The 3×4 affine map [A | b] taking pixels (N, 3) with the style's colour mean and covariance
    to the content's: ``x' = A x + b``."""
    if method not in MATCH_METHODS:
        raise ValueError(f"unknown colour matching method '{method}'; use one of {', '.join(MATCH_METHODS)}")
    pixels = [p.double() for p in (style_pixels, content_pixels)]
    means = [p.mean(dim=0) for p in pixels]
    eye = torch.eye(3, dtype=torch.float64, device=style_pixels.device)
    covs = [torch.cov(p.T) + _EPS * eye if len(p) > 1 else eye for p in pixels]
    cov_s, cov_c = covs
    if method == "sym":
        a = _sqrtm(cov_c, 0.5) @ _sqrtm(cov_s, -0.5)
    elif method == "chol":
        a = torch.linalg.cholesky(cov_c) @ torch.linalg.inv(torch.linalg.cholesky(cov_s))
    else:
        (val_s, vec_s), (val_c, vec_c) = torch.linalg.eigh(cov_s), torch.linalg.eigh(cov_c)
        a = vec_c @ torch.diag(val_c.clamp_min(_EPS).sqrt() / val_s.clamp_min(_EPS).sqrt()) @ vec_s.T
    b = means[1] - a @ means[0]
    return torch.cat([a, b[:, None]], dim=1)


def match_colours(
    style: torch.Tensor,
    content: torch.Tensor,
    *,
    method: str = "sym",
    style_masks: torch.Tensor | None = None,
    content_masks: torch.Tensor | None = None,
) -> torch.Tensor:
    """The style image (1, 3, H, W) recoloured to the content's colour mean and covariance (per
    region with masks), clipped to [0, 1]."""
    s_pixels = style[0].reshape(3, -1).T
    c_pixels = content[0].reshape(3, -1).T
    out = s_pixels.clone()
    for s_region, c_region in zip(_regions(style, style_masks), _regions(content, content_masks), strict=True):
        if not s_region.any() or not c_region.any():
            continue
        affine = colour_map(s_pixels[s_region], c_pixels[c_region], method).to(style.dtype)
        out[s_region] = s_pixels[s_region] @ affine[:, :3].T + affine[:, 3]
    return out.T.reshape(style.shape).clamp(0, 1)


def grey(image: torch.Tensor) -> torch.Tensor:
    """The luminance as a grey RGB image (what VGG sees in a luminance-only transfer)."""
    return luminance(image).expand(-1, 3, -1, -1).contiguous()


def blend_strength(result: torch.Tensor, photo: torch.Tensor, strength: float) -> torch.Tensor:
    """Style strength at inference, in output space: ``strength`` of the stylised image over the
    photo. A feed-forward network has no content/style knob of its own (Johnson et al. fix the
    weights at training), and its residual features are the stylisation itself, so blending
    them is the same mix with artefacts; the output mix is exact at 0 and 1 and linear between."""
    if strength >= 1:
        return result
    return (strength * result + (1 - strength) * photo.to(result)).clamp(0, 1)
