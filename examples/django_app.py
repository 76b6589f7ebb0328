"""imagepipe from a Django view, in one file (a real project puts the views in an app).

    python examples/django_app.py runserver     # beside a worker: dramatiq actors

``POST /photos`` (multipart, field ``file``) stores the upload and queues it with
``imagepipe.submit``; ``GET /photos/<id>?wait=30`` answers once the image has ended.
imagepipe keeps its own tables in DATABASE_URL (peewee), beside Django's database.
"""

import sys

from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="example-only",  # a real project reads its own from the environment
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
        DATABASES={},
    )

import django  # noqa: E402
from django.http import JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402
from django.views.decorators.http import require_GET, require_POST  # noqa: E402

import imagepipe  # noqa: E402
from imagepipe.settings import get_settings  # noqa: E402
from models import Image, bind_database, database  # noqa: E402

bind_database(get_settings().database_url)


@csrf_exempt  # an API endpoint for this example; a form in a page keeps Django's CSRF check
@require_POST
def upload_photo(request):
    upload = request.FILES.get("file")
    if upload is None:
        return JsonResponse({"error": "send the image in a multipart field named 'file'"}, status=400)
    with database.connection_context():
        image = imagepipe.submit(upload, name=upload.name)
    return JsonResponse({"id": image.id, "status": image.status}, status=202)


@require_GET
def photo(request, image_id):
    with database.connection_context():
        image = Image.get_or_none(Image.id == image_id)
        if image is None:
            return JsonResponse({"error": f"no image with id {image_id}"}, status=404)
        if request.GET.get("wait"):
            try:
                image = imagepipe.wait(image_id, timeout=float(request.GET["wait"]))
            except TimeoutError:
                pass
        variants = [{"width": v.width, "format": v.format, "key": v.path} for v in image.variants]
        return JsonResponse({**image.state(), "variants": variants})


urlpatterns = [path("photos", upload_photo), path("photos/<int:image_id>", photo)]

if __name__ == "__main__":
    django.setup()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
