"""The place of a GPS position, offline: the nearest GeoNames town that ``reverse_geocode`` ships.

``reverse_geocode`` carries GeoNames' cities1000 (every place of 1,000 people or more) in its
wheel and answers with the nearest one, however far: a position in mid-Atlantic gets a village
of the Azores 900 km away. A place is claimed only when that town lies within
``MAX_DISTANCE_KM``: 50 km holds a town's suburbs and countryside even where towns of 1,000
people are sparse (in most of Europe the nearest one is under 10 km away), and stops the claim
before a place one could not call "there" (the open sea, a desert, an ice cap). The distance is
computed here from the town's own coordinates (great circle), because the library's tree
measures in raw degrees.
"""

import math

#: The farthest the nearest town may be for its name to be claimed as the image's place, in km.
MAX_DISTANCE_KM = 50
_EARTH_RADIUS_KM = 6371.0


def place_of(latitude, longitude):
    """{"city", "region", "country", "country_code"} of a position in decimal degrees; {} when
    there is no position or no town within MAX_DISTANCE_KM of it."""
    if latitude is None or longitude is None:
        return {}
    import reverse_geocode  # optional extra, loaded on first use (then cached)

    town = reverse_geocode.get((latitude, longitude))
    if distance_km(latitude, longitude, town["latitude"], town["longitude"]) > MAX_DISTANCE_KM:
        return {}
    place = {
        "city": town.get("city") or "",
        "region": town.get("state") or "",
        "country": town.get("country") or "",
        "country_code": town.get("country_code") or "",
    }
    return {key: value for key, value in place.items() if value}


def distance_km(latitude_a, longitude_a, latitude_b, longitude_b):
    """Great-circle distance between two positions in decimal degrees (haversine), in km."""
    phi_a, phi_b = math.radians(latitude_a), math.radians(latitude_b)
    half_chord = (
        math.sin((phi_b - phi_a) / 2) ** 2
        + math.cos(phi_a) * math.cos(phi_b) * math.sin(math.radians(longitude_b - longitude_a) / 2) ** 2
    )
    return 2 * _EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, half_chord)))


def place_words(place):
    """The place as people write it: "Arezzo, Tuscany, Italy" (a region named like its city once)."""
    names = []
    for key in ("city", "region", "country"):
        name = place.get(key)
        if name and name not in names:
            names.append(name)
    return ", ".join(names)
