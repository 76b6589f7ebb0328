"""imagepipe from a FastAPI app.

    uvicorn examples.fastapi_app:app        # beside a worker: dramatiq actors

``POST /photos`` stores the upload and queues it (one call: ``imagepipe.submit``);
``GET /photos/{id}?wait=30`` answers once the image has ended, or at once without ``wait``.
The pipeline's settings (DATABASE_URL, REDIS_URL, IMAGEPIPE_STORAGE_URL...) come from the
environment, as the worker's do.
"""

import contextlib

from fastapi import FastAPI, HTTPException, UploadFile

import imagepipe
from imagepipe.settings import get_settings
from models import Image, bind_database, database


@contextlib.asynccontextmanager
async def lifespan(app):
    bind_database(get_settings().database_url)
    yield


app = FastAPI(lifespan=lifespan)


@app.post("/photos", status_code=202)
def upload_photo(file: UploadFile):
    # A plain def: FastAPI runs it in a thread, where storing and the database may block.
    with database.connection_context():
        image = imagepipe.submit(file.file, name=file.filename)
    return {"id": image.id, "status": image.status}


@app.get("/photos/{image_id}")
def photo(image_id: int, wait: float = 0):
    with database.connection_context():
        image = Image.get_or_none(Image.id == image_id)
        if image is None:
            raise HTTPException(404, f"no image with id {image_id}")
        if wait:
            try:
                image = imagepipe.wait(image_id, timeout=wait)
            except TimeoutError:
                pass  # still in progress: say where it stands
        variants = [{"width": v.width, "format": v.format, "key": v.path} for v in image.variants]
        return {**image.state(), "variants": variants}
