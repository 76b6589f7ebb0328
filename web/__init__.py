"""imagepipe's web process: upload images, follow them live over SSE, replay dead letters.

``uvicorn web.app:app`` serves it; ``web.app.create_app(settings)`` builds one for tests.
"""
