"""The words of one image, whoever wrote them: the shape local and remote describers share.

The fields are the original system's (a vision model's description, tags, categories,
objects, colours, mood, style, composition and a searchable text), plus what the local models
read off the pixels (text in the image, faces, the place of its GPS position). A describer
fills what it can justify and leaves the rest empty: no field is ever guessed to look full.
"""

from dataclasses import asdict, dataclass, field


@dataclass
class Words:
    """What a describer said of an image; ``searchable_text`` is what search indexes."""

    description: str = ""
    detailed_description: str = ""
    tags: list = field(default_factory=list)
    categories: list = field(default_factory=list)
    objects: list = field(default_factory=list)
    #: Colour names (not hex): what a person types in a search box.
    colors: list = field(default_factory=list)
    mood: str = ""
    style: str = ""
    composition: str = ""
    searchable_text: str = ""
    #: Text read in the image (OCR), lines joined by newlines.
    ocr_text: str = ""
    #: Face boxes [x, y, width, height] in pixels of the upright original.
    faces: list = field(default_factory=list)
    #: The place of the image's GPS position: {"city", "region", "country", "country_code"}.
    place: dict = field(default_factory=dict)
    #: "photo", "screenshot" or "graphic" when it can be told, else "".
    kind: str = ""
    #: Who wrote these words: "local" or the remote provider's name, and the model (or, for
    #: the local describer, its parts with their versions).
    provider: str = ""
    model: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    #: In US dollars, when the provider reports it (OpenRouter does; OpenAI does not).
    cost_usd: float | None = None

    def as_row(self):
        """The fields as plain values, for the database row and JSON answers."""
        return asdict(self)
