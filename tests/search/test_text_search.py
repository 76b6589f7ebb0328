"""Full-text search over descriptions with the database's own engine: SQLite FTS5 and
PostgreSQL tsvector give the same answers."""

import pytest

from imagepipe.description.record import Words
from imagepipe.search import Hit, fuse, search
from models import Image, migrate_schema, register_image, save_description
from models.search import search_descriptions
from tests.conftest import with_postgres


def describe(text="", *, tags=(), ocr="", place=None):
    image = register_image(f"tests/{text[:10] or ocr[:10]}.jpg")
    words = Words(searchable_text=text, tags=list(tags), ocr_text=ocr, place=place or {}, provider="local", model="t")
    save_description(image.id, words)
    return image.id


@with_postgres
def test_ranked_any_word_stemmed_with_tags_and_places_weighing_more(database_url):
    beach = describe("a sunny beach at sunset with waves", tags=["beach", "sunset"])
    shore = describe("people walking along the shore at sunset")
    receipt = describe("a white paper document", ocr="ACME Corporation\nTOTAL 42.50")
    paris = describe("a city street", place={"city": "Paris", "region": "Île-de-France", "country": "France"})

    assert [i for i, _ in search_descriptions("beach at sunset", 10)] == [beach, shore]
    assert [i for i, _ in search_descriptions("beaches", 10)] == [beach]  # stemmed
    assert [i for i, _ in search_descriptions("acme receipt", 10)] == [receipt]  # text in the image
    assert [i for i, _ in search_descriptions("photos in paris", 10)] == [paris]
    assert [i for i, _ in search_descriptions("France", 10)] == [paris]
    assert search_descriptions("volcano", 10) == []
    assert [i for i, _ in search_descriptions("sunset", 1)] == [beach]  # k, tags outrank the text


@with_postgres
def test_the_index_follows_rewrites_and_deletions(database_url):
    image_id = describe("a red tractor in a field")
    assert [i for i, _ in search_descriptions("tractor", 5)] == [image_id]
    save_description(image_id, Words(searchable_text="a blue boat", provider="local", model="t"))
    assert search_descriptions("tractor", 5) == []
    assert [i for i, _ in search_descriptions("boat", 5)] == [image_id]
    Image.delete().where(Image.id == image_id).execute()  # the description goes with its image
    assert search_descriptions("boat", 5) == []
    assert migrate_schema() == []  # the index is made once


@with_postgres
@pytest.mark.parametrize(
    "query", ['"beach', "beach OR", "NOT beach", "beach*", "a AND (b", "'; DROP TABLE image; --", "NEAR(beach)", "-"]
)
def test_queries_never_reach_the_engines_syntax(database_url, query):
    beach = describe("a beach")
    found = [image_id for image_id, _ in search_descriptions(query, 5)]
    # the query's words are looked for as words: any holding "beach" finds it, the rest nothing
    assert found == ([beach] if "beach" in query.lower() else [])


def test_reciprocal_rank_fusion_rewards_agreement():
    text = [(1, 9.0), (2, 8.0), (3, 7.0)]
    meaning = [(3, 0.9), (4, 0.8), (1, 0.7)]
    hits = fuse({"text": text, "meaning": meaning}, 4)
    assert [hit.image_id for hit in hits] == [1, 3, 2, 4]
    assert hits[0] == Hit(1, 1 / 61 + 1 / 63, "text+meaning")
    assert [hit.found_by for hit in hits] == ["text+meaning", "text+meaning", "text", "meaning"]


def test_search_without_a_text_embedder_is_full_text_only(database_url):
    beach = describe("a beach")
    assert search("beach", 5) == [Hit(beach, search_descriptions("beach", 5)[0][1], "text")]


def test_search_answers_by_text_when_the_query_cannot_be_embedded(database_url, openai_standin, monkeypatch):
    import imagepipe.search
    from imagepipe.description.remote import OpenAITextEmbedder
    from tests.openai_standin import EMBEDDINGS_PATH, error_reply

    embedder = OpenAITextEmbedder(api_key="sk-test-search-0123456", base_url=openai_standin.base_url, timeout_s=5)
    monkeypatch.setattr(imagepipe.search, "get_text_embedder", lambda: embedder)
    beach = describe("a beach")
    openai_standin.script([error_reply(429, "Rate limit reached", headers={"Retry-After": "1"}, path=EMBEDDINGS_PATH)])

    assert [(hit.image_id, hit.found_by) for hit in search("beach", 5)] == [(beach, "text")]
    assert len(openai_standin.requests(EMBEDDINGS_PATH)) == 1  # it was asked, and said no
