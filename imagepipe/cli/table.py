"""Plain-text tables and the per-image summary that ``process`` and ``status`` print."""

from models import Image, Variant


def render_table(headers, rows):
    """Columns padded to their widest cell; numbers right-aligned."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max([len(header)] + [len(row[i]) for row in cells]) for i, header in enumerate(headers)]
    numeric = [bool(rows) and all(_is_number(row[i]) for row in rows) for i in range(len(headers))]

    def line(values):
        padded = (v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric, strict=True))
        return "  ".join(padded).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(row) for row in cells])


def _is_number(value):
    return isinstance(value, (int, float))


def human_bytes(count):
    if count is None:
        return "-"
    for unit in ("B", "KB", "MB"):
        if count < 1024:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GB"


def image_summary(image, variants):
    """What a person wants to know of one image: outcome, what was made, what it saved."""
    largest = max((v.width for v in variants), default=None)
    best = min((v.bytes for v in variants if v.width == largest), default=None)
    saved = f"{100 * (1 - best / image.bytes):.0f}%" if best and image.bytes else "-"
    seconds = (image.completed_at - image.created_at).total_seconds() if image.completed_at else None
    return {
        "id": image.id,
        "name": image.original_name or image.source,
        "status": image.status,
        "size": f"{image.width}x{image.height}" if image.width else "-",
        "variants": len(variants),
        "original": human_bytes(image.bytes),
        "largest out": human_bytes(best),
        "saved": saved,
        "time": f"{seconds:.1f}s" if seconds is not None else "-",
        "error": image.error or "",
    }


def images_table(image_ids):
    """The summary table of the given images, in the order given."""
    images = {image.id: image for image in Image.select().where(Image.id.in_(image_ids))}
    variants = {}
    for variant in Variant.select().where(Variant.image.in_(image_ids)):
        variants.setdefault(variant.image_id, []).append(variant)
    rows = [image_summary(images[i], variants.get(i, [])) for i in image_ids if i in images]
    headers = list(rows[0]) if rows else ["id"]
    return render_table(headers, [list(row.values()) for row in rows])
