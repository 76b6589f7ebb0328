"""Convert pixels to sRGB, the only colour space the outputs are tagged for (implicitly).

Outputs carry no ICC profile (it can identify the editing software and costs bytes), so
colours must already be sRGB: an Adobe RGB or Display P3 photo shown untagged would look
dull or garish, and CMYK shown as RGB is simply wrong. A profile that cannot be used is
logged and ignored rather than failing the image.
"""

import functools
import io
import logging

from PIL import ImageCms

logger = logging.getLogger(__name__)

# ICC colour-space signatures (4 chars, space padded) whose profile fits each pixel mode.
_PROFILE_SPACES = {"RGB": "RGB ", "RGBA": "RGB ", "CMYK": "CMYK"}


@functools.cache
def _srgb():
    return ImageCms.createProfile("sRGB")


@functools.cache
def _lab():
    return ImageCms.createProfile("LAB")


def to_srgb(image, icc_profile):
    """``image`` (L, RGB, RGBA, CMYK or LAB) as L, RGB or RGBA sRGB pixels.

    ``icc_profile`` is the embedded profile's bytes, or None. Grey stays grey: a grey profile's
    tone curve differs little from sRGB's and keeping one channel keeps outputs small.
    """
    if image.mode == "LAB":
        return ImageCms.profileToProfile(image, _lab(), _srgb(), outputMode="RGB")
    if icc_profile and image.mode in _PROFILE_SPACES:
        converted = _apply_profile(image, icc_profile)
        if converted is not None:
            return converted
    if image.mode == "CMYK":
        return image.convert("RGB")
    return image


def _apply_profile(image, icc_profile):
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        if profile.profile.xcolor_space != _PROFILE_SPACES[image.mode]:
            logger.info("ICC profile for %r ignored on a %s image", profile.profile.xcolor_space, image.mode)
            return None
        output_mode = "RGBA" if image.mode == "RGBA" else "RGB"
        return ImageCms.profileToProfile(
            image, profile, _srgb(), renderingIntent=ImageCms.Intent.PERCEPTUAL, outputMode=output_mode
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        logger.warning("unusable ICC profile ignored", exc_info=True)
        return None
