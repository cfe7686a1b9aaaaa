"""Image files: which names count as images, and screening them before training.

A file that cannot be decoded is found when the dataset is loaded, named, and skipped
or failed on (``--on-bad-image``), never discovered as a crash deep inside TensorFlow.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from zoo.errors import UsageError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
"""File endings read as images (TensorFlow decodes all four formats natively)."""

BAD_IMAGE_CHOICES = ("skip", "fail")

# Pillow's names for the formats TensorFlow's decode_image reads (MPO: camera JPEGs).
_DECODABLE_FORMATS = {"JPEG", "MPO", "PNG", "BMP", "GIF"}


def check_on_bad_image(value: str) -> str:
    if value not in BAD_IMAGE_CHOICES:
        raise UsageError(f"on_bad_image must be one of {', '.join(BAD_IMAGE_CHOICES)}, not {value!r}")
    return value


# -- image files --------------------------------------------------------------------


def is_image_file(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS) and not os.path.basename(name).startswith(".")


MAX_PIXELS_ENV = "ZOO_MAX_IMAGE_PIXELS"
DEFAULT_MAX_PIXELS = 89_478_485
"""Pillow's own decompression-bomb threshold (1024 * 1024 * 1024 // 4 // 3)."""


def max_image_pixels() -> int | None:
    """The largest image (in pixels) zoo reads: ``ZOO_MAX_IMAGE_PIXELS``, Pillow's default, or None (0: no limit)."""
    text = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_PIXELS
    if not text.isdigit():
        raise UsageError(f"{MAX_PIXELS_ENV} must be a whole number of pixels (0: no limit), got {text!r}")
    return int(text) or None


def image_problem(path: str) -> str | None:
    """Why ``path`` cannot be used as an image, or None when Pillow decodes it fully.

    A full decode costs more than a header check, but it is the only way to catch a
    truncated JPEG before TensorFlow trips over it mid-epoch.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        if os.path.getsize(path) == 0:
            return "empty file"
        Image.MAX_IMAGE_PIXELS = None  # zoo checks its own limit below, in one line instead of Pillow's warning
        with Image.open(path) as image:
            limit = max_image_pixels()
            if limit and image.size[0] * image.size[1] > limit:
                return (f"{image.size[0]}x{image.size[1]} pixels, over the limit of {limit:,} that guards against "
                        f"decompression bombs; to read it, raise {MAX_PIXELS_ENV} (0: no limit)")
            if image.format not in _DECODABLE_FORMATS:
                return f"{image.format or 'unknown'} data, not JPEG/PNG/BMP/GIF"
            if image.format == "BMP" and image.mode not in ("RGB", "RGBA", "L"):
                return f"{image.mode}-mode (palette or 1-bit) BMP, which TensorFlow misreads; convert it to PNG"
            width, height = image.size
            if image.format in ("JPEG", "MPO"):
                image.draft(image.mode, (1, 1))  # decode at 1/8 scale: half the time, still reads every byte
            with warnings.catch_warnings():  # checked above, against zoo's limit: Pillow need not say it again
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image.load()
            if not width or not height:
                return "image has no pixels"
    except UnidentifiedImageError:
        return "not an image Pillow recognises (corrupt or wrong extension)"
    except OSError as exc:
        return f"unreadable: {exc}"
    except Exception as exc:  # Pillow raises assorted errors on crafted or broken files
        return f"unreadable: {type(exc).__name__}: {exc}"
    return None


def screen_images(paths: list[str], workers: int | None = None) -> list[tuple[str, str]]:
    """``(path, reason)`` for every path in ``paths`` that is not a usable image.

    Decoding runs on threads (Pillow releases the GIL while it decodes).
    """
    if not paths:
        return []
    workers = workers or min(8, (os.cpu_count() or 1) + 2)
    if len(paths) < 32:
        problems = [image_problem(p) for p in paths]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            problems = list(pool.map(image_problem, paths, chunksize=16))
    return [(p, reason) for p, reason in zip(paths, problems) if reason]


def bad_images_error(bad: list[tuple[str, str]], where: str, *, show: int = 3,
                     advice: str = "fix or remove them, or pass on_bad_image=skip / --on-bad-image skip") -> UsageError:
    """The one-line error for ``on_bad_image="fail"``: the count and the first files."""
    shown = "; ".join(f"{path} ({reason})" for path, reason in bad[:show])
    more = f"; and {len(bad) - show} more" if len(bad) > show else ""
    return UsageError(f"{len(bad)} unreadable image{'s' if len(bad) != 1 else ''} in {where}: {shown}{more} "
                      f"({advice})")


def drop_bad_images(files: list[str], labels: list[int], on_bad_image: str, where: str
                    ) -> tuple[list[str], list[int], list[tuple[str, str]]]:
    """Screen ``files``: keep the good ones, or raise on any bad one with ``fail``."""
    check_on_bad_image(on_bad_image)
    bad = screen_images(files)
    if bad and on_bad_image == "fail":
        raise bad_images_error(bad, where)
    bad_paths = {p for p, _ in bad}
    kept = [(f, y) for f, y in zip(files, labels) if f not in bad_paths]
    return [f for f, _ in kept], [y for _, y in kept], bad


# -- loose image files (zoo predict) ---------------------------------------------------


def expand_image_paths(paths: str | os.PathLike | list) -> list[str]:
    """Files as given, and the image files under each folder (sorted, recursively)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    found: list[str] = []
    for entry in paths:
        path = Path(entry).expanduser()
        if path.is_dir():
            inside = sorted(str(p) for p in path.rglob("*")
                            if p.is_file() and is_image_file(p.name) and not any(part.startswith(".") for part in p.relative_to(path).parts))
            if not inside:
                raise UsageError(f"folder '{entry}' has no jpg/png/bmp/gif images")
            found.extend(inside)
        elif path.is_file():
            found.append(str(path))
        else:
            raise UsageError(f"image '{entry}' does not exist")
    if not found:
        raise UsageError("no images given")
    return found
