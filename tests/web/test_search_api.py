"""``/search`` and ``/images/{id}/similar`` against a real server and an in-process worker."""

import pytest

from imagepipe.samples import make_photo, save_jpeg
from tests.helpers import finish


def upload(client, path):
    with open(path, "rb") as body:
        response = client.post("/images", files={"file": (path.name, body, "image/jpeg")})
    assert response.status_code == 202, response.text
    return response.json()["id"]


@pytest.fixture
def uploaded(api, corpus, tmp_path):
    """Three completed images: a GPS photo taken in Arezzo, and two generated photos."""
    arezzo = upload(api, corpus / "camera" / "DSCN0010.jpg")
    others = [upload(api, save_jpeg(make_photo(1200, 800, seed=n), tmp_path / f"p{n}.jpg")) for n in range(2)]
    finish([arezzo, *others])
    return arezzo, others


def test_search_ranks_the_image_of_the_place_first_with_its_thumbnail_and_tags(api, uploaded):
    arezzo, _ = uploaded
    body = api.get("/search", params={"q": "photos from Tuscany", "k": 5}).json()
    assert body["query"] == "photos from Tuscany"
    first = body["results"][0]
    assert first["id"] == arezzo and first["found_by"] == "text"
    assert {"arezzo", "tuscany", "italy"} <= set(first["tags"])
    assert "Arezzo, Tuscany, Italy" in first["description"]
    assert first["url"] == f"/images/{arezzo}"
    thumbnail = api.get(first["thumbnail"])
    assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/webp"
    # the image's own view carries its words
    words = api.get(f"/images/{arezzo}").json()["words"]
    assert words["provider"] == "local" and words["place_name"] == "Arezzo, Tuscany, Italy"


def test_similar_lists_the_other_images_by_pixel_vector(api, uploaded):
    arezzo, others = uploaded
    body = api.get(f"/images/{others[0]}/similar", params={"k": 5}).json()
    assert body["image"] == others[0]
    assert sorted(hit["id"] for hit in body["similar"]) == sorted([arezzo, others[1]])
    assert all(hit["found_by"] == "pixels" and -1 <= hit["score"] <= 1 for hit in body["similar"])
    assert [hit["score"] for hit in body["similar"]] == sorted((hit["score"] for hit in body["similar"]), reverse=True)


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/search", 400, "q is missing"),
        ("/search?q=" + "x" * 501, 400, "longer than 500"),
        ("/search?q=beach&k=0", 400, "k must be between 1 and 100"),
        ("/search?q=beach&k=lots", 400, "k must be a whole number"),
        ("/images/999/similar", 404, "no image with id 999"),
    ],
)
def test_bad_search_requests_get_a_json_error(serve, path, status, words):
    response = serve().get(path)
    assert response.status_code == status and words in response.json()["error"]


def test_search_and_similar_need_the_token(serve):
    api = serve(api_token="s3cret")
    for path in ("/search?q=beach", "/images/1/similar"):
        assert api.get(path).status_code == 401, path
    assert api.get("/search?q=beach", headers={"Authorization": "Bearer s3cret"}).json()["results"] == []
