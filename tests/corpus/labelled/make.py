"""Make the generated images of the search-quality set (tests/search/test_quality.py).

Each is drawn with Pillow on imagepipe.samples.make_photo's photo-like background or on flat
colours, with text in DejaVu (fonts-dejavu-core), and given only the EXIF written here: no
camera took them. They are kept as files so the test does not depend on the fonts installed.

    .venv/bin/python tests/corpus/labelled/make.py   # rewrites the files of this folder
"""

import sys
from pathlib import Path

from PIL import ExifTags, Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from imagepipe.samples import make_photo  # noqa: E402

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
MONO = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
#: GPS positions written into the EXIF of some images: (latitude, longitude) in degrees.
FLORENCE = (43.7696, 11.2558)
PARIS = (48.8606, 2.3376)


def font(size, face=FONT):
    return ImageFont.truetype(face, size)


def gps_exif(exif, position):
    """Write ``position`` into ``exif``'s GPS directory as degrees, minutes, seconds."""
    latitude, longitude = position

    def dms(value):
        value = abs(value)
        degrees, rest = int(value), (abs(value) - int(value)) * 60
        return (float(degrees), float(int(rest)), round((rest - int(rest)) * 60, 2))

    exif.get_ifd(ExifTags.IFD.GPSInfo).update(
        {1: "N" if latitude >= 0 else "S", 2: dms(latitude), 3: "E" if longitude >= 0 else "W", 4: dms(longitude)}
    )
    return exif


def receipt(path):
    """A till receipt photographed on a table: white paper with ACME MARKET, items and TOTAL."""
    picture = make_photo(900, 1200, seed=11)
    draw = ImageDraw.Draw(picture)
    draw.rectangle((170, 60, 730, 1140), fill=(250, 249, 244))
    lines = [
        ("ACME MARKET", 54, BOLD),
        ("12 Harbour Road", 30, MONO),
        ("", 30, MONO),
        ("Bread        2.40", 34, MONO),
        ("Milk         1.10", 34, MONO),
        ("Coffee       6.90", 34, MONO),
        ("", 30, MONO),
        ("TOTAL       10.40", 40, BOLD),
        ("THANK YOU", 34, MONO),
    ]
    top = 110
    for text, size, face in lines:
        if text:
            draw.text((215, top), text, font=font(size, face), fill=(25, 25, 25))
        top += int(size * 1.9)
    picture.save(path, "JPEG", quality=85)


def street_sign(path):
    """A blue Paris street plate, RUE DE RIVOLI, on a photo-like wall; GPS in Paris."""
    picture = make_photo(1200, 800, seed=12)
    draw = ImageDraw.Draw(picture)
    draw.rounded_rectangle((200, 250, 1000, 520), radius=30, fill=(20, 50, 130), outline="white", width=12)
    draw.text((300, 300), "1er Arr", font=font(44), fill="white")
    draw.text((270, 385), "RUE DE RIVOLI", font=font(80, BOLD), fill="white")
    picture.save(path, "JPEG", quality=85, exif=gps_exif(Image.Exif(), PARIS))


def shop_open(path):
    """A shop door with a red OPEN sign and opening hours; GPS in Florence."""
    picture = make_photo(1200, 800, seed=13)
    draw = ImageDraw.Draw(picture)
    draw.rectangle((350, 180, 870, 420), fill=(200, 20, 30))
    draw.text((393, 210), "OPEN", font=font(140, BOLD), fill="white")
    draw.rectangle((400, 480, 800, 640), fill=(245, 245, 240))
    draw.text((430, 500), "Mon-Sat 9-19", font=font(48), fill="black")
    draw.text((430, 570), "Sun closed", font=font(48), fill="black")
    picture.save(path, "JPEG", quality=85, exif=gps_exif(Image.Exif(), FLORENCE))


def button(draw, box, label, colour):
    """A flat rounded button with its label centred in white bold."""
    draw.rounded_rectangle(box, radius=8, fill=colour)
    draw.text(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), label, font=font(26, BOLD), fill="white", anchor="mm")


def settings_screen(path):
    """A settings page of an app: flat title bar, sidebar, form text and a button."""
    picture = Image.new("RGB", (1280, 800), (246, 247, 249))
    draw = ImageDraw.Draw(picture)
    draw.rectangle((0, 0, 1280, 64), fill=(33, 37, 41))
    draw.text((24, 14), "Settings", font=font(30, BOLD), fill="white")
    draw.rectangle((0, 64, 260, 800), fill=(226, 230, 236))
    for row, item in enumerate(("Account", "Privacy", "Notifications", "Billing")):
        draw.text((28, 100 + row * 56), item, font=font(24), fill=(40, 40, 40))
    draw.text((300, 100), "Notifications", font=font(34, BOLD), fill=(20, 20, 20))
    for row, item in enumerate(("Email me when an upload fails", "Weekly summary", "Sounds")):
        draw.rectangle((300, 180 + row * 70, 326, 206 + row * 70), outline=(90, 90, 90), width=3)
        draw.text((345, 178 + row * 70), item, font=font(24), fill=(40, 40, 40))
    button(draw, (300, 420, 520, 480), "Save changes", (13, 110, 253))
    picture.save(path, "PNG")


def login_screen(path):
    """A sign-in page: flat background, a card with Email, Password and a Log in button."""
    picture = Image.new("RGB", (1280, 800), (232, 240, 236))
    draw = ImageDraw.Draw(picture)
    draw.rounded_rectangle((440, 140, 840, 660), radius=16, fill="white")
    draw.text((560, 180), "Sign in", font=font(44, BOLD), fill=(20, 20, 20))
    for row, label in enumerate(("Email", "Password")):
        top = 280 + row * 130
        draw.text((480, top), label, font=font(24), fill=(60, 60, 60))
        draw.rectangle((480, top + 36, 800, top + 86), outline=(170, 170, 170), width=2)
    button(draw, (480, 560, 800, 620), "Log in", (25, 135, 84))
    picture.save(path, "PNG")


def poster(path):
    """A concert poster in flat colours: JAZZ FESTIVAL, a date and a place."""
    picture = Image.new("RGB", (800, 1130), (250, 200, 40))
    draw = ImageDraw.Draw(picture)
    draw.ellipse((180, 560, 620, 1000), fill=(220, 60, 40))
    draw.text((70, 90), "JAZZ", font=font(190, BOLD), fill=(20, 30, 80))
    draw.text((70, 320), "FESTIVAL", font=font(110, BOLD), fill=(20, 30, 80))
    draw.text((80, 470), "Saturday 14 June", font=font(48), fill=(20, 30, 80))
    draw.text((80, 1040), "City Park Stage", font=font(44), fill=(20, 30, 80))
    picture.save(path, "PNG")


def night(path):
    """A dark street at night with a few lights; EXIF of a long exposure at high ISO, scene
    type night, camera SONY ILCE-7M3 (written here: no camera took it)."""
    picture = Image.eval(make_photo(1200, 800, seed=14), lambda value: value // 6)
    draw = ImageDraw.Draw(picture)
    for x, y in ((200, 300), (520, 260), (860, 320), (1050, 280)):
        draw.ellipse((x - 18, y - 18, x + 18, y + 18), fill=(255, 220, 150))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "SONY"
    exif[ExifTags.Base.Model] = "ILCE-7M3"
    shot = exif.get_ifd(ExifTags.IFD.Exif)
    shot[ExifTags.Base.ExposureTime] = 2.0
    shot[ExifTags.Base.ISOSpeedRatings] = 3200
    shot[ExifTags.Base.SceneCaptureType] = 3  # night scene
    shot[ExifTags.Base.Flash] = 0
    picture.save(path, "JPEG", quality=85, exif=exif)


IMAGES = {
    "receipt.jpg": receipt,
    "street_sign.jpg": street_sign,
    "shop_open.jpg": shop_open,
    "settings_screen.png": settings_screen,
    "login_screen.png": login_screen,
    "poster.png": poster,
    "night.jpg": night,
}


def main():
    for name, draw in IMAGES.items():
        draw(HERE / name)
        print(f"{name}: {(HERE / name).stat().st_size} bytes")


if __name__ == "__main__":
    main()
