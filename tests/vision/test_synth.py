"""The training renderer (tools/vision/synth.py): crops that run on past the lines' ends, documents set in a
printer's style, security print as dark as the ink, a glare cutting across characters, specks, sharpening, and
earlier training sets that still render as they did (cached sets are named by seed)."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageFilter

from agent.vision.lines import LINE_H, LINE_W
from tools.vision import synth
from tools.vision.synth import (
    OCRB_CUTS,
    OTHER_FACES,
    PrintStyle,
    _cut_across,
    _glyph,
    _run_on,
    _sharpening,
    _specks,
    _stroke,
    _styled_line,
    document_lines,
    print_style,
)


def test_a_run_on_canvas_keeps_the_ink_and_widens_the_page_on_a_side():
    ink = np.zeros((20, 100), np.float32)
    ink[5:15, 10:90] = 1.0
    widened = [_run_on(random.Random(seed), ink, 1.0) for seed in range(20)]
    for wide, left, right in widened:
        assert wide.shape == (20, 100 + left + right) and left + right >= 5
        assert np.array_equal(wide[:, left : left + 100], ink) and wide.sum() == ink.sum()
    assert {bool(left) for _, left, _ in widened} == {True, False} and any(right for _, _, right in widened)


def test_without_run_on_nothing_more_is_drawn_so_earlier_training_sets_render_as_before():
    """``run_on`` 0 (the default) leaves the seeded generator untouched: the stages before it render the same
    lines (checked against the renderer before run-on, seeds 0-4, when it was added)."""
    rng = random.Random(5)
    state = rng.getstate()
    ink = np.ones((20, 100), np.float32)
    wide, left, right = _run_on(rng, ink, 0.0)
    assert wide is ink and (left, right) == (0, 0) and rng.getstate() == state


def test_run_on_crops_carry_the_same_texts_at_the_model_input_size():
    lines = [line for seed in range(6) for line in document_lines(random.Random(seed), run_on=1.0)]
    assert all(crop.shape == (32, 448) and crop.dtype == np.uint8 for crop, _ in lines)
    assert {len(text) for _, text in lines} <= {30, 36, 44}


ALPHABET_DRAWN = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"


@pytest.mark.parametrize("face", OCRB_CUTS + OTHER_FACES)
def test_every_printer_face_draws_every_mrz_character_with_ink(face):
    widths = {ch: _glyph(face, 40, ch).shape[1] for ch in ALPHABET_DRAWN}
    assert all(_glyph(face, 40, ch).max() > 0.5 for ch in ALPHABET_DRAWN)
    assert widths["W"] > widths["I"]  # real glyphs, not one box for all


def _styled(line: str, **style: float) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    ink = np.zeros((60, 40 + 20 * len(line)), np.float32)
    fields = {"width": 1.0, "height": 1.0, "weight": 0.5, "wobble": 0.0} | style
    box = _styled_line(random.Random(1), ink, 20, 10, line, 20.0, PrintStyle(OCRB_CUTS[0], **fields))
    return ink, box


def test_a_styled_line_keeps_every_glyph_in_its_cell_of_the_pitch():
    """Narrow glyphs stay centred on the pitch, so a crop of the line still holds one character per cell."""
    ink, (x0, y0, x1, y1) = _styled("I<I<I<I<", width=0.6)
    assert (x0, x1) == (20, 20 + 8 * 20) and 10 <= y0 < y1 <= 60
    columns = ink.max(0) > 0.3
    for cell in range(8):
        left, right = 20 + cell * 20, 20 + (cell + 1) * 20
        assert columns[left + 7 : right - 7].any() and not columns[left : left + 2].any()


def test_glyph_width_and_stroke_weight_change_the_ink_and_not_the_text_box():
    narrow, narrow_box = _styled("MRZ<0Q8B", width=0.6)
    wide, wide_box = _styled("MRZ<0Q8B", width=1.05)
    assert narrow_box[::2] == wide_box[::2] and (narrow.max(0) > 0.3).sum() < 0.8 * (wide.max(0) > 0.3).sum()
    bold, light = _stroke(wide, 0.2, 20.0), _stroke(wide, 0.72, 20.0)
    assert bold.sum() > 1.3 * wide.sum() > 1.3 * light.sum()


def test_a_wobbling_baseline_moves_characters_up_and_down():
    steady, _ = _styled("HHHHHHHH")
    wobbly, _ = _styled("HHHHHHHH", wobble=0.1)
    tops = [np.flatnonzero(img[:, 20 + c * 20 : 40 + c * 20].max(1) > 0.5)[0] for img in (steady, wobbly) for c in range(8)]
    assert len(set(tops[:8])) == 1 and len(set(tops[8:])) > 1


@pytest.mark.parametrize(("option", "seed", "earlier"), [
    ("variety", 7, {"run_on": 0.25}),
    ("dark_print", 7, {"run_on": 0.25}),
    ("cut_across", 11, {"run_on": 0.25, "dark_print": 0.5}),
    ("specks", 13, {"run_on": 0.25, "dark_print": 0.5, "cut_across": 0.3}),
    ("sharpened", 17, {"run_on": 0.25, "dark_print": 0.5, "cut_across": 0.3, "specks": 0.3}),
])  # fmt: skip
def test_without_an_option_earlier_training_sets_render_as_before(option: str, seed: int, earlier: dict[str, Any]):
    """Each rendering option at 0 (its default; the sets rendered with the options before it, ``earlier``) draws
    nothing more from the seeded generator: variety draws no printer style, dark print lightens the background as
    before, and no glare, speck or sharpening is drawn. At a share too small ever to win, the option still draws
    its coin, and every later draw moves on by one: the lines differ, so at 0 the coin is not drawn."""
    plain = document_lines(random.Random(seed), **earlier)
    again = document_lines(random.Random(seed), **{**earlier, option: 0.0})
    assert all(np.array_equal(a, b) and s == t for (a, s), (b, t) in zip(plain, again, strict=True))
    coin = document_lines(random.Random(seed), **{**earlier, option: 1e-12})
    assert not all(np.array_equal(a, b) for (a, _), (b, _) in zip(plain, coin, strict=True))


def test_styled_documents_give_crops_of_the_same_texts_at_the_model_input_size():
    lines = [line for seed in range(8) for line in document_lines(random.Random(seed), variety=1.0)]
    assert all(crop.shape == (32, 448) and crop.dtype == np.uint8 and crop.std() > 5 for crop, _ in lines)
    assert {len(text) for _, text in lines} <= {30, 36, 44}
    styles = {print_style(random.Random(seed)).face for seed in range(200)}
    assert styles >= set(OCRB_CUTS) and len(styles & set(OTHER_FACES)) >= 6


def test_dark_print_keeps_the_security_print_as_dark_as_on_the_evaluation_pages():
    """Security print kept at full contrast crosses the characters darker: on the same documents' seeds, more
    of each crop lies well under its usual grey (40 levels below its 60th percentile)."""

    def dark_share(share: float) -> float:
        crops = [crop for seed in range(30) for crop, _ in document_lines(random.Random(seed), dark_print=share)]
        return float(np.mean([(crop < np.percentile(crop, 60) - 40).mean() for crop in crops]))

    assert dark_share(1.0) > dark_share(0.0)


def test_a_cut_across_glare_cuts_characters_but_never_hides_one_whole():
    """The glare's edge falls inside a character (the line models must read what is left, or doubt it); no
    character cell is covered whole, since no model could read it and its label would teach guessing."""
    lines, pitch = ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"), 12
    boxes = [(40.0, 20.0 + 30 * k, 40.0 + 44 * pitch, 36.0 + 30 * k) for k in range(2)]
    cut_cells = 0
    for seed in range(200):
        img = _cut_across(random.Random(seed), np.zeros((90, 660), np.float32), lines, boxes)
        painted = img.max(0) >= 200
        cells = [painted[40 + i * pitch : 40 + (i + 1) * pitch].mean() for i in range(44)]
        assert max(cells) < 1.0 and painted.any()
        cut_cells += sum(0 < c < 1 for c in cells)
    assert cut_cells >= 200


def test_specks_are_dark_round_spots_smaller_than_a_character():
    """Specks darken a few small spots over the lines, each within a quarter of a pitch of its centre: some join a
    character's strokes, none hides a character's cell."""
    lines, pitch = ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"), 12
    boxes = [(40.0, 20.0 + 30 * k, 40.0 + 44 * pitch, 37.0 + 30 * k) for k in range(2)]
    darkened = []
    for seed in range(100):
        img = _specks(random.Random(seed), np.full((90, 660), 230.0, np.float32), lines, boxes)
        dark = img < 200
        assert dark.any() and dark[:, :30].sum() == 0 and dark[:, 40 + 44 * pitch + 10 :].sum() == 0
        cells = [dark[20 + 30 * k : 37 + 30 * k, 40 + i * pitch : 40 + (i + 1) * pitch].mean()
                 for k in range(2) for i in range(44)]  # fmt: skip
        assert max(cells) < 0.6
        darkened.append(dark.mean())
    assert 0.001 < float(np.mean(darkened)) < 0.05


def test_sharpening_draws_light_halos_beside_strokes_and_leaves_plain_paper_alone():
    """A stroke sharpened gets lighter-than-paper halos on both sides and stays as dark within; paper more than a
    few of the mask's radii away is untouched."""
    bar = np.full((32, 120), 180, np.uint8)
    bar[8:24, 50:56] = 40
    for seed in range(40):
        out = np.asarray(Image.fromarray(bar).filter(_sharpening(random.Random(seed))), np.int32)
        assert out[16, 56:60].max() >= 200 and out[16, 46:50].max() >= 200  # halos right and left
        assert out[16, 50:56].max() <= 40
        assert (out[:, :30] == 180).all() and (out[:, 80:] == 180).all()


class _Counted(ImageFilter.UnsharpMask):
    """An unsharp mask that counts the images it is applied to."""

    applied = 0

    def filter(self, image):  # type: ignore[no-untyped-def]
        self.applied += 1
        return super().filter(image)


def test_a_sharpened_document_s_lines_are_all_sharpened_alike(monkeypatch):
    """One sharpening drawn per document (one camera), applied to every one of its lines."""
    made = []

    def counted(rng: random.Random) -> ImageFilter.UnsharpMask:
        real = _sharpening(rng)
        made.append(_Counted(real.radius, real.percent, real.threshold))
        return made[-1]

    monkeypatch.setattr(synth, "_sharpening", counted)
    for seed in range(5):
        rendered = document_lines(random.Random(seed), sharpened=1.0)
        assert len(made) == seed + 1 and made[-1].applied == len(rendered)
        assert all(crop.shape == (LINE_H, LINE_W) and crop.dtype == np.uint8 for crop, _ in rendered)
