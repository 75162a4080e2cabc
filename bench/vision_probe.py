"""Robustness probe: real specimen images the reader trusts, read again altered as cameras, scanners, printers and
hands alter them; each reading compared with the specimen's own.

    ./tools/dev vision-probe IMAGE_OR_FOLDER... [--families camera,angle,glare,covered,print,light] [--procs 2] [--each]

The specimens are not in this repository (their licences are their publishers'); docs/vision.md names the public
collections the figures there come from. An image is probed only when its own reading is trusted: that reading is
the truth its alterations are held to. Per family, of every altered reading: the same and trusted, REFER (read,
not trusted), no MRZ, and trusted but wrong (must be none: a gate acts on a trusted reading), each wrong one
listed with the characters that differ. Alterations are seeded: the same images give the same figures.
"""

from __future__ import annotations

import argparse
import datetime
import io
import multiprocessing
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from agent.vision.image import BadFrameError, grey, perspective, read_image
from agent.vision.locate import locate
from agent.vision.mrz_read import read_image_mrz

TODAY = datetime.date(2026, 12, 6)  # expiry dates are judged on this day, so the figures do not age
SUFFIXES = {".jpg", ".jpeg", ".png"}
Alteration = Callable[[Image.Image], Image.Image]


def jpeg(im: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def scaled(im: Image.Image, fx: float, fy: float | None = None) -> Image.Image:
    return im.resize((max(1, round(im.width * fx)), max(1, round(im.height * (fy or fx)))), Image.Resampling.LANCZOS)


def keystone(im: Image.Image, share: float, far_edge: str) -> Image.Image:
    """``im`` as photographed with ``far_edge`` (t, b, l, r) looking ``share`` of its length shorter at each end."""
    w, h = im.size
    d = share * (w if far_edge in "tb" else h)
    seen = {"t": [(d, 0), (w - d, 0), (w, h), (0, h)], "b": [(0, 0), (w, 0), (w - d, h), (d, h)],
            "l": [(0, d), (w, 0), (w, h), (0, h - d)], "r": [(0, 0), (w, d), (w, h - d), (0, h)]}[far_edge]  # fmt: skip
    coeffs = perspective(seen, [(0, 0), (w, 0), (w, h), (0, h)])
    return im.transform(im.size, Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC, fillcolor=(90, 90, 90))


def _pixels(im: Image.Image) -> np.ndarray:
    return np.asarray(im.convert("RGB")).astype(np.float32)


def _image(a: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def glare(im: Image.Image, amount: float, cx: float = 0.4, cy: float = 0.85, spread: float = 0.12) -> Image.Image:
    """A bright spot (a lamp on the laminate), centred at (cx, cy) of the image: over an MRZ's left half."""
    a = _pixels(im)
    h, w = a.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    spot = np.exp(-(((yy - cy * h) / (h * spread)) ** 2 + ((xx - cx * w) / (w * spread)) ** 2))
    return _image(a + spot[..., None] * amount)


def shadow(im: Image.Image) -> Image.Image:
    a = _pixels(im)
    return _image(a * np.linspace(0.35, 1.0, a.shape[1])[None, :, None])


def in_scene(im: Image.Image) -> Image.Image:
    out = Image.new("RGB", (im.width * 2, im.height * 2), (60, 50, 40))
    out.paste(im, (im.width // 3, im.height // 2))
    return out


def grey_noise(im: Image.Image) -> Image.Image:
    a = _pixels(im.convert("L").convert("RGB"))
    return _image(a + np.random.default_rng(1).normal(0, 18, (*a.shape[:2], 1)))


def bowed(im: Image.Image, share: float) -> Image.Image:
    """Each column shifted down along a half sine: a page curling as a passport's does, ``share`` of the height."""
    a = np.asarray(im.convert("RGB"))
    h, w = a.shape[:2]
    shift = (share * h * np.sin(np.pi * np.arange(w) / w)).astype(int)
    return Image.fromarray(np.stack([np.roll(a[:, x], shift[x], axis=0) for x in range(w)], axis=1))


def motion(im: Image.Image, pixels: int) -> Image.Image:
    a = _pixels(im)
    return _image(sum(np.roll(a, k, axis=1) for k in range(pixels)) / pixels)


def grainy(im: Image.Image) -> Image.Image:
    a = _pixels(im)
    return jpeg(_image(a * 0.5 + np.random.default_rng(3).normal(0, 12, a.shape)), 70)


def halftone(im: Image.Image, cell: int) -> Image.Image:
    """Printed with a clustered-dot screen at 45 degrees (``cell`` pixels a dot at twice the size) and scanned back."""
    g = _pixels(im.convert("L").resize((im.width * 2, im.height * 2), Image.Resampling.BICUBIC))[..., 0] / 255
    yy, xx = np.mgrid[0 : g.shape[0], 0 : g.shape[1]].astype(np.float32)
    u, v = (xx + yy) / np.sqrt(2) / cell * 2 * np.pi, (yy - xx) / np.sqrt(2) / cell * 2 * np.pi
    screen = (np.cos(u) + np.cos(v)) / 4 + 0.5
    printed = Image.fromarray(np.where(g > screen, 255, 0).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.2))
    return printed.resize(im.size, Image.Resampling.BILINEAR).convert("RGB")


def one_bit(im: Image.Image, scale: float = 1.0) -> Image.Image:
    """A black-and-white scan: grey at ``scale``, thresholded at Otsu's level."""
    g = np.asarray(scaled(im, scale).convert("L") if scale != 1.0 else im.convert("L"))
    p = np.bincount(g.ravel(), minlength=256) / g.size
    below, mean = np.cumsum(p), np.cumsum(p * np.arange(256))
    between = (mean[-1] * below - mean) ** 2 / (below * (1 - below) + 1e-12)
    return Image.fromarray(np.where(g > int(np.argmax(between)), 255, 0).astype(np.uint8)).convert("RGB")


def red_channel(im: Image.Image) -> Image.Image:
    """The red channel alone, as grey: an IR-like view, where coloured backgrounds fade."""
    r = np.asarray(im.convert("RGB"))[..., 0]
    return Image.fromarray(np.stack([r] * 3, -1))


def moire(im: Image.Image) -> Image.Image:
    """A photo of a screen: a fine grating of +-20 % brightness."""
    a = _pixels(im)
    yy, xx = np.mgrid[0 : a.shape[0], 0 : a.shape[1]]
    return _image(a * (0.8 + 0.2 * np.cos(2 * np.pi * (xx * 0.31 + yy * 0.07)))[..., None])


def crease(im: Image.Image) -> Image.Image:
    """A fold: a dark line 4 pixels wide and a lighter shade beside it, across the page's lower part."""
    a = _pixels(im)
    h, w = a.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    d = np.abs((yy - h * 0.9) - (xx - w * 0.5) * 0.35)
    return _image(a * np.where(d < 2.0, 0.55, np.where(d < 6, 0.9, 1.0))[..., None])


def pen(im: Image.Image) -> Image.Image:
    """A blue ballpoint stroke waving across the page's lower part."""
    a = np.asarray(im.convert("RGB")).copy()
    h, w = a.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    a[np.abs(yy - (h * 0.88 + h * 0.05 * np.sin(xx / w * 6))) < max(1.5, h / 400)] = (30, 40, 140)
    return Image.fromarray(a)


def crumpled(im: Image.Image) -> Image.Image:
    """Paper crumpled and smoothed: each pixel displaced by a smooth random field (0.4 % of the height), shaded."""
    a = np.asarray(im.convert("RGB"))
    h, w = a.shape[:2]
    rng = np.random.default_rng(7)

    def field() -> np.ndarray:
        coarse = Image.fromarray(rng.normal(0, 1, (h // 40 + 2, w // 40 + 2)).astype(np.float32))
        return np.asarray(coarse.resize((w, h), Image.Resampling.BICUBIC)) * h * 0.004

    dx, dy = field(), field()
    yy, xx = np.mgrid[0:h, 0:w]
    moved = a[np.clip((yy + dy).round().astype(int), 0, h - 1), np.clip((xx + dx).round().astype(int), 0, w - 1)]
    return _image(moved * (0.75 + 0.25 * (dx - dx.min()) / (np.ptp(dx) + 1e-9))[..., None])


def covered(where: str) -> Alteration:
    """A thumb over the MRZ's right or left end, or a white label over its bottom line's middle (``where``), drawn
    where the locator finds the band; the image unaltered when it finds none."""
    colour = {"thumb right": (214, 170, 140), "thumb left": (120, 80, 60), "label": (250, 250, 245)}[where]

    def alter(im: Image.Image) -> Image.Image:
        band = locate(grey(np.asarray(im.convert("RGB"))))
        if band is None:
            return im
        xs, ys = zip(*band.corners(), strict=True)
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
        w, h = x1 - x0, y1 - y0
        out = im.convert("RGB").copy()
        draw = ImageDraw.Draw(out)
        if where == "thumb right":
            draw.ellipse([x1 - 0.12 * w, y0 + 0.2 * h, x1 + 0.2 * w, y1 + 1.5 * h], fill=colour)
        elif where == "thumb left":
            draw.ellipse([x0 - 0.2 * w, y0 + 0.3 * h, x0 + 0.1 * w, y1 + 1.5 * h], fill=colour)
        else:
            draw.rectangle([x0 + 0.4 * w, y0 + 0.55 * h, x0 + 0.55 * w, y1 + 0.05 * h], fill=colour)
        return out.filter(ImageFilter.GaussianBlur(1))

    return alter


def washed_out(im: Image.Image) -> Image.Image:
    """Overexposed: every shade pressed towards white, the ink at a third of its contrast."""
    return _image(255 - (255 - _pixels(im)) * 0.35 + 10)


def tungsten(im: Image.Image) -> Image.Image:
    """Under a yellow lamp: blue at half, green at 0.85, with sensor noise."""
    a = _pixels(im) * np.array([1.0, 0.85, 0.5], np.float32)
    return _image(a + np.random.default_rng(3).normal(0, 6, a.shape))


def gate_frame(im: Image.Image) -> Image.Image:
    """A 640 x 480 camera frame (or taller) with the page 448 px wide on a dark tray."""
    page = scaled(im, 448 / im.width)
    frame = Image.new("RGB", (640, max(480, page.height + 40)), (60, 60, 60))
    frame.paste(page, (96, 20))
    return frame


def _turned(degrees: float) -> Alteration:
    return lambda im: im.rotate(degrees, Image.Resampling.BICUBIC, expand=True, fillcolor=(80, 80, 80))


FAMILIES: dict[str, tuple[str, dict[str, Alteration]]] = {
    "camera": ("turned 7, -33, 90, 187 degrees; half size; a third size as JPEG 40; JPEG 15; Gaussian blur 2; "
               "keystone 15 % at the top; shadow; glare; dark at half contrast; in a larger scene; grey with noise", {
        "turned 7": _turned(7), "turned -33": _turned(-33), "turned 90": lambda im: im.rotate(90, expand=True),
        "turned 187": _turned(187), "half size": lambda im: scaled(im, 0.5),
        "third, JPEG 40": lambda im: jpeg(scaled(im, 1 / 3), 40), "JPEG 15": lambda im: jpeg(im, 15),
        "blur 2": lambda im: im.filter(ImageFilter.GaussianBlur(2)), "keystone top 15": lambda im: keystone(im, 0.15, "t"),
        "shadow": shadow, "glare": lambda im: glare(im, 170),
        "dark, low contrast": lambda im: ImageEnhance.Contrast(ImageEnhance.Brightness(im).enhance(0.45)).enhance(0.5),
        "in a scene": in_scene, "grey, noise": grey_noise}),
    "angle": ("keystone 10-20 % at each edge; bowed 3 %; motion blur 5 px along the lines; dark, grainy, JPEG 70", {
        "keystone top 20": lambda im: keystone(im, 0.2, "t"), "keystone bottom 15": lambda im: keystone(im, 0.15, "b"),
        "keystone left 15": lambda im: keystone(im, 0.15, "l"), "keystone right 10": lambda im: keystone(im, 0.10, "r"),
        "bowed 3": lambda im: bowed(im, 0.03), "motion 5": lambda im: motion(im, 5), "grainy": grainy}),
    "glare": ("a glare of +80, +120, +170 grey levels over the MRZ's left half", {
        f"glare +{amount}": (lambda im, amount=amount: glare(im, amount)) for amount in (80, 120, 170)}),
    "covered": ("a thumb over the MRZ's right or left end, a white label over its bottom line's middle", {
        where: covered(where) for where in ("thumb right", "thumb left", "label")}),
    "print": ("printed with a halftone screen (dots of 4 and 6 px) and scanned; a 1-bit scan, at full and half "
              "size; the red channel alone; moire; a crease; a pen stroke; 25 % wider, 20 % narrower; crumpled", {
        "halftone 4": lambda im: halftone(im, 4), "halftone 6": lambda im: halftone(im, 6), "1-bit": one_bit,
        "1-bit, half size": lambda im: one_bit(im, 0.5), "red channel": red_channel, "moire": moire,
        "crease": crease, "pen": pen, "wider 25 %": lambda im: scaled(im, 1.25, 1.0),
        "narrower 20 %": lambda im: scaled(im, 0.8, 1.0), "crumpled": crumpled}),
    "light": ("washed out; a yellow lamp with noise; a 640 px gate frame; blur 1 and JPEG 30; turned 12 degrees and "
              "blurred 1.2; upside down with keystone 10 % at the bottom", {
        "washed out": washed_out, "tungsten, noise": tungsten, "640 frame": gate_frame,
        "blur 1, JPEG 30": lambda im: jpeg(im.filter(ImageFilter.GaussianBlur(1)), 30),
        "turned 12, blur 1.2": lambda im: _turned(12)(im).filter(ImageFilter.GaussianBlur(1.2)),
        "upside down, keystone bottom 10": lambda im: keystone(im.rotate(180), 0.1, "b")}),
}


def probe(path: str, families: list[str]) -> list[tuple[str, str, str, str, float, str]]:
    """(family, alteration, image, outcome, confidence, what differs) of each alteration of the image at ``path``;
    none when its own reading is not trusted (or it is not an image)."""
    try:
        im = Image.fromarray(read_image(path))
    except BadFrameError:
        return []
    own = read_image_mrz(np.asarray(im), today=TODAY)
    if not own.trusted:
        return []
    out = []
    for family in families:
        for name, alter in FAMILIES[family][1].items():
            r = read_image_mrz(np.asarray(alter(im).convert("RGB")), today=TODAY)
            outcome = ("same" if r.lines == own.lines else "WRONG") if r.trusted else "REFER" if r.lines else "no MRZ"
            differs = " ".join(f"{a}->{b}" for la, lb in zip(own.lines, r.lines, strict=False)
                               for a, b in zip(la, lb, strict=False) if a != b)  # fmt: skip
            out.append((family, name, Path(path).name, outcome, r.confidence, differs if outcome == "WRONG" else ""))
    return out


def images(args: list[str]) -> list[str]:
    """The image files named, and those in the folders named (sorted)."""
    found = []
    for arg in args:
        p = Path(arg)
        found += sorted(str(f) for f in p.rglob("*") if f.suffix.lower() in SUFFIXES) if p.is_dir() else [arg]
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="+", help="specimen images, or folders of them (JPEG, PNG)")
    ap.add_argument("--families", default=",".join(FAMILIES), help=f"of {', '.join(FAMILIES)}")
    ap.add_argument("--procs", type=int, default=2, help="processes (each loads the models once)")
    ap.add_argument("--each", action="store_true", help="print every altered reading too")
    args = ap.parse_args(argv)
    families = [f for f in args.families.split(",") if f]
    unknown = sorted(set(families) - set(FAMILIES))
    if unknown:
        ap.error(f"unknown families {', '.join(unknown)}; known: {', '.join(FAMILIES)}")
    paths = images(args.paths)
    jobs = [(p, families) for p in paths]
    if args.procs > 1:
        with multiprocessing.get_context("spawn").Pool(args.procs) as pool:
            results = pool.starmap(probe, jobs, chunksize=1)
    else:
        results = [probe(*job) for job in jobs]
    rows = [row for result in results for row in result]
    trusted = sum(1 for result in results if result)
    print(f"{len(paths)} images, {trusted} trusted as they are (probed); readings judged on {TODAY}\n")
    print("| family | alterations | readings | same, trusted | REFER | no MRZ | trusted, wrong |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for family in families:
        outcomes = [r[3] for r in rows if r[0] == family]
        counts = [outcomes.count(o) for o in ("same", "REFER", "no MRZ", "WRONG")]
        print(f"| {family} | {FAMILIES[family][0]} | {len(outcomes)} | " + " | ".join(map(str, counts)) + " |")
    wrong = [r for r in rows if r[3] == "WRONG"]
    print(f"\ntrusted, wrong: {len(wrong)}")
    for _, name, image, _, confidence, differs in wrong:
        print(f"  {image}, {name}: {differs} ({confidence:.3f})")
    if args.each:
        print()
        for family, name, image, outcome, confidence, _ in rows:
            print(f"{outcome:6} {family:7} {name:20} {image} {confidence:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
