"""The trainer's aspect buckets: which crop size each image gets at each training resolution.

Why: the trainer never refuses a small image up front; it picks a bucket and, when that bucket has
a side of 0 px (small or very narrow images, e.g. 64x103 or 2000x80), the VAE encode during latent
caching raises and the billed run fails. The only way to predict that is the same arithmetic, so
this is ai-toolkit's `toolkit/buckets.py` (commit 3400882a8099645ce4c797f57ac258f1e1424ffd) with
the trainer's settings: `resolutions_1024`, `divisibility = bucket_tolerance = 64`, the bucket
list scaled by `min(resolution, int(sqrt(w*h))) / 1024`. Same float operations, same answers.
"""

from __future__ import annotations

from functools import lru_cache

DIVISIBILITY = 64
_SDXL_1024: tuple[tuple[int, int], ...] = (
    (1024, 1024),
    (2048, 512),
    (1984, 512),
    (1920, 512),
    (1856, 512),
    (1792, 576),
    (1728, 576),
    (1664, 576),
    (1600, 640),
    (1536, 640),
    (1472, 704),
    (1408, 704),
    (1344, 704),
    (1344, 768),
    (1280, 768),
    (1216, 832),
    (1152, 832),
    (1152, 896),
    (1088, 896),
    (1088, 960),
    (1024, 960),
    (960, 1024),
    (960, 1088),
    (896, 1088),
    (896, 1152),
    (832, 1152),
    (832, 1216),
    (768, 1280),
    (768, 1344),
    (704, 1408),
    (704, 1472),
    (640, 1536),
    (640, 1600),
    (576, 1664),
    (576, 1728),
    (576, 1792),
    (512, 1856),
    (512, 1920),
    (512, 1984),
    (512, 2048),
    (8192, 128),
    (128, 8192),
)


@lru_cache(maxsize=4096)
def bucket_sizes(resolution: int, divisibility: int = DIVISIBILITY) -> tuple[tuple[int, int], ...]:
    """The bucket list scaled from 1024 to `resolution`, each side floored to `divisibility`."""
    scaler = resolution / 1024
    out = []
    for bw, bh in _SDXL_1024:
        width, height = int(bw * scaler), int(bh * scaler)
        out.append((width - width % divisibility, height - height % divisibility))
    return tuple(out)


def bucket_for(width: int, height: int, resolution: int) -> tuple[int, int]:
    """The (width, height) crop the trainer uses for a `width` x `height` image at `resolution`.

    The closest bucket is the one that removes the fewest pixels after scaling the image so it
    covers the bucket; ties keep the earlier bucket, exactly as the trainer's loop does.
    """
    real = int((width * height) ** 0.5)
    sizes = bucket_sizes(min(resolution, real))
    for bw, bh in sizes:
        if bw == width and bh == height:
            return bw, bh
    best: tuple[int, int] | None = None
    least = float("inf")
    for bw, bh in sizes:
        scale = max(bw / width, bh / height)
        new_w, new_h = int(width * scale), int(height * scale)
        removed = (new_w - bw) * new_h + (new_h - bh) * new_w
        if removed < least:
            least, best = removed, (bw, bh)
    if best is None:  # pragma: no cover - the list is never empty
        raise ValueError("No suitable bucket found")
    return best


def zero_side_resolutions(width: int, height: int, resolutions: tuple[int, ...]) -> list[int]:
    """The training resolutions at which this image's bucket has a 0 px side (the run fails)."""
    return [r for r in resolutions if 0 in bucket_for(width, height, r)]
