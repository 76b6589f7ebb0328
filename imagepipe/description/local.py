"""The local describer: words about an image from models inside their PyPI wheels, offline.

Four parts, each optional (``parts``), each behind a pip extra but "facts":

- "facts": what can be said without a model (facts.py): colours, orientation, kind, EXIF hints,
  camera and lens;
- "places": the place of the GPS position (places.py, ``imagepipe[places]``);
- "faces": frontal faces counted and boxed (faces.py, ``imagepipe[faces]``);
- "ocr": the text in the image (ocr.py, ``imagepipe[ocr]``).

``describe_locally`` runs in an isolated child (imagepipe.isolation), so it is a module-level
function and the models it loads stay in that child for the calls it serves. The file is decoded
once, at the largest size a requested part reads, and each part gets its own smaller copy. A
part that fails on an image logs a warning and leaves its fields empty; a file that cannot be
decoded fails the call with the imaging errors, as every step does.

The words say only what a part found: no field is filled to look complete, and the
description's wording names where each fact came from.
"""

import importlib.metadata
import importlib.util
import logging
import math

from imagepipe.description import faces as faces_part
from imagepipe.description import facts as facts_part
from imagepipe.description import ocr as ocr_part
from imagepipe.description.places import MAX_DISTANCE_KM, place_of, place_words
from imagepipe.description.record import Words
from imagepipe.errors import ConfigurationError, first_line
from imagepipe.imaging import exif
from imagepipe.imaging.opening import load_upright, open_image
from imagepipe.settings import DESCRIBE_PARTS

logger = logging.getLogger(__name__)

PARTS = DESCRIBE_PARTS
#: Per optional part: the modules it imports, its pip extra, the library named in ``model``
#: and the distributions that may provide it.
_REQUIREMENTS = {
    "places": (("reverse_geocode",), "imagepipe[places]", "reverse_geocode", ("reverse_geocode",)),
    "faces": (
        ("cv2",),
        "imagepipe[faces]",
        "opencv",
        ("opencv-python-headless", "opencv-python", "opencv-contrib-python-headless", "opencv-contrib-python"),
    ),
    "ocr": (("rapidocr", "onnxruntime"), "imagepipe[ocr]", "rapidocr", ("rapidocr",)),
}
# The long side each pixel part reads, in pixels (see each part's module for the measurements).
# The part modules import their libraries (cv2, onnxruntime) only when first used.
_LONG_SIDES = {"facts": facts_part.FLAT_LONG_SIDE_PX, "faces": faces_part.LONG_SIDE_PX, "ocr": ocr_part.LONG_SIDE_PX}
_TEXT_IN_DESCRIPTION = 60


def available_parts():
    """The parts whose packages are installed, in PARTS order ("facts" always is)."""
    return tuple(part for part in PARTS if not _missing_modules(part))


def check_parts(parts):
    """Raise ConfigurationError for an unknown part, or one whose package is not installed
    (naming the pip extra that installs it)."""
    unknown = [part for part in parts if part not in PARTS]
    if unknown:
        raise ConfigurationError(f"unknown describe parts {unknown}; choose from {', '.join(PARTS)}")
    for part in parts:
        missing = _missing_modules(part)
        if missing:
            extra = _REQUIREMENTS[part][1]
            raise ConfigurationError(
                f"the {part!r} describe part needs {', '.join(missing)}: pip install '{extra}', "
                f"or leave {part!r} out of the parts"
            )


def model_name(parts):
    """The parts with the versions of their libraries, e.g. "facts+ocr:rapidocr-3.10.0"."""
    names = []
    for part in PARTS:
        if part not in parts:
            continue
        if part in _REQUIREMENTS:
            _, _, library, distributions = _REQUIREMENTS[part]
            names.append(f"{part}:{library}-{_version(distributions)}")
        else:
            names.append(part)
    return "+".join(names)


def describe_locally(path, *, parts, max_pixels, max_file_bytes):
    """The Words of the image at ``path`` by the requested ``parts`` (a tuple drawn from PARTS)."""
    parts = tuple(parts)
    check_parts(parts)
    with open_image(path, max_pixels=max_pixels, max_file_bytes=max_file_bytes) as image:
        width, height = exif.displayed_size(image.size, exif.orientation(image))
        camera = exif.camera_fields(image)
        scene = exif.scene_fields(image)
    copies = _copies(path, parts, width, height, max_pixels=max_pixels, max_file_bytes=max_file_bytes)
    name = getattr(path, "name", str(path))
    found = {}
    if "ocr" in parts:
        found["ocr"] = _run("ocr", name, ocr_part.read_text, copies["ocr"])
    if "faces" in parts:
        scale = max(width, height) / max(copies["faces"].size)
        found["faces"] = _run("faces", name, faces_part.find_faces, copies["faces"], scale)
    if "facts" in parts:
        found["facts"] = _run(
            "facts",
            name,
            facts_part.gather,
            copies["facts"],
            width=width,
            height=height,
            camera=camera,
            scene=scene,
            text_found=bool(found.get("ocr")),
        )
    if "places" in parts:
        found["places"] = _run("places", name, place_of, camera["gps_latitude"], camera["gps_longitude"])
    return _words(found, parts, width, height, camera)


def _missing_modules(part):
    if part not in _REQUIREMENTS:
        return []
    return [module for module in _REQUIREMENTS[part][0] if importlib.util.find_spec(module) is None]


def _version(distributions):
    for distribution in distributions:
        try:
            version = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
        return ".".join(version.split(".")[:3])
    return "unknown"


def _copies(path, parts, width, height, *, max_pixels, max_file_bytes):
    """One upright copy per pixel part, long side as _LONG_SIDES says (never upscaled), from one
    decode at the largest of them (a JPEG decodes reduced by draft)."""
    sides = {part: _LONG_SIDES[part] for part in parts if part in _LONG_SIDES}
    if not sides:
        return {}
    long_side = max(width, height)
    largest = min(max(sides.values()), long_side)
    picture = load_upright(
        path,
        max_width=math.ceil(largest * width / long_side),
        max_pixels=max_pixels,
        max_file_bytes=max_file_bytes,
    )
    copies = {}
    for part, side in sorted(sides.items(), key=lambda item: -item[1]):
        picture = picture.copy()  # each copy is made from the last, larger one: cheaper
        picture.thumbnail((side, side))
        copies[part] = picture
    return copies


def _run(part, name, function, *args, **kwargs):
    """A part's result, or None (logged) when it failed on this image."""
    try:
        return function(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - one part's failure must not fail the image
        logger.warning("%s: the %s describe part failed, its fields stay empty: %s", name, part, first_line(exc))
        logger.debug("%s: %s part traceback", name, part, exc_info=True)
        return None


def _words(found, parts, width, height, camera):
    facts = found.get("facts") or {}
    text = found.get("ocr") or ""
    faces = found.get("faces")
    place = found.get("places") or {}
    tags = _tags(facts, text, faces or [], place)
    description = _description(facts, text, faces or [], place)
    detailed = _detailed(facts, text, faces, place, width, height, camera)
    return Words(
        description=description,
        detailed_description=detailed,
        tags=tags,
        colors=list(facts.get("colors", [])),
        searchable_text="\n".join(part for part in (description, detailed, " ".join(tags)) if part),
        ocr_text=text,
        faces=faces or [],
        place=place,
        kind=facts.get("kind", ""),
        provider="local",
        model=model_name(parts),
    )


def _shape(facts):
    """ "landscape photo", "panoramic photo", "square graphic", "portrait image"... or ""."""
    if not facts:
        return ""
    shape = "panoramic" if facts["panorama"] else facts["orientation"]
    return f"{shape} {facts['kind'] or 'image'}"


def _description(facts, text, faces, place):
    """One sentence: "A landscape photo taken with a NIKON D70 in Arezzo, Tuscany, Italy; mostly
    green and grey; 1 face; text: ACME Receipt"."""
    shape = _shape(facts)
    head = f"A {shape}" if shape else "An image"
    if facts.get("camera"):
        head += f" taken with a {facts['camera']}"
    if place:
        head += f" in {place_words(place)}"
    clauses = [head]
    if facts.get("colors"):
        clauses.append("mostly " + " and ".join(facts["colors"][:2]))
    if facts.get("hints"):
        clauses.append(", ".join(facts["hints"]))
    if faces:
        clauses.append(f"{len(faces)} face" + ("s" if len(faces) > 1 else ""))
    if text:
        first = " ".join(text.split())
        if len(first) > _TEXT_IN_DESCRIPTION:
            first = first[: _TEXT_IN_DESCRIPTION - 1].rstrip() + "…"
        clauses.append(f"text: {first}")
    return "; ".join(clauses)


def _detailed(facts, text, faces, place, width, height, camera):
    """More of the same facts, each with where it came from."""
    sentences = []
    if facts:
        if facts_part.has_camera(camera):
            how = "a photo by its camera EXIF"
        else:
            how = f"{facts['kind'] or 'kind unknown'} by its share of flat pixels, {facts['flat_share']:.2f}"
        sentences.append(f"Measured without a model: a {width}x{height} {_shape(facts)} ({how}).")
        shot = [facts["camera"] and f"camera {facts['camera']}", facts["lens"] and f"lens {facts['lens']}"]
        if camera.get("taken_at"):
            shot.append(f"taken {camera['taken_at'].date().isoformat()}")
        exposure = " ".join(
            value
            for value in (
                camera.get("f_number") and f"f/{camera['f_number']:g}",
                camera.get("exposure_time") and f"{camera['exposure_time']} s",
                camera.get("iso") and f"ISO {camera['iso']}",
                camera.get("focal_length_mm") and f"{camera['focal_length_mm']:g} mm",
            )
            if value
        )
        shot.append(exposure)
        if any(shot):
            sentences.append("EXIF: " + ", ".join(value for value in shot if value) + ".")
        if facts["hints"]:
            sentences.append("Hints from EXIF and brightness: " + ", ".join(facts["hints"]) + ".")
        if facts["colors"]:
            sentences.append("Dominant colours: " + ", ".join(facts["colors"]) + ".")
    if place:
        where = place_words(place)
        code = place.get("country_code")
        sentences.append(
            f"Place (nearest town within {MAX_DISTANCE_KM} km of its GPS position, GeoNames): {where}"
            + (f" ({code})." if code else ".")
        )
    if faces:  # none found is no fact to search by ("face" would match every image)
        sentences.append(f"Frontal faces found (OpenCV cascade): {len(faces)}.")
    if text:
        sentences.append("Text read in the image (OCR): " + " / ".join(text.splitlines()) + ".")
    return " ".join(sentences)


def _tags(facts, text, faces, place):
    """Only tags a part found: kind, shape, hints, colours, camera make, place names, text, face."""
    tags = []
    if facts:
        tags += [facts["kind"], facts["orientation"], "panorama" if facts["panorama"] else ""]
        tags += facts["hints"] + facts["colors"]
        make = facts["camera_make"].split()
        tags.append(make[0] if make else "")
    tags += [place.get(key, "") for key in ("city", "region", "country")]
    if text:
        tags.append("text")
    if faces:
        tags += ["face", "people"]
    unique = []
    for tag in tags:
        tag = tag.lower()
        if tag and tag not in unique:
            unique.append(tag)
    return unique
