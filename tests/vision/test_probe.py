"""bench/vision_probe.py: real specimens read again altered, each reading held to the specimen's own (generated
pages here: the specimens themselves are not in the repository)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bench import vision_probe
from tests.vision.conftest import page


def _table_row(out: str, family: str) -> dict[str, int]:
    cells = next(line for line in out.splitlines() if line.startswith(f"| {family} |")).strip("| ").split(" | ")
    return dict(zip(("readings", "same", "REFER", "no MRZ", "WRONG"), map(int, cells[2:7]), strict=True))


def test_the_probe_counts_each_altered_reading_against_the_page_s_own(tmp_path, capsys, monkeypatch):
    """A folder is probed image by image: an image the reader does not trust and a file that is not an image are
    not probed. A label or a thumb over the MRZ is not trusted (REFER); another document's page in its place is
    trusted and differs, so it is counted wrong and its differing characters listed."""
    doc, other = page(11, "TD3"), page(12, "TD3")
    Image.fromarray(doc.image).save(tmp_path / "page.png")
    Image.new("RGB", (400, 300), "white").save(tmp_path / "blank.png")
    (tmp_path / "notes.txt").write_text("not an image")
    monkeypatch.setitem(vision_probe.FAMILIES, "swapped", ("another page", {"another page": lambda im: Image.fromarray(other.image)}))

    assert vision_probe.main([str(tmp_path), "--families", "covered,swapped", "--procs", "1"]) == 0

    out = capsys.readouterr().out
    assert out.startswith("2 images, 1 trusted as they are")
    covered = _table_row(out, "covered")
    assert covered["readings"] == 3 and covered["WRONG"] == 0 and covered["same"] == 0, out
    assert covered["REFER"] + covered["no MRZ"] == 3, out
    assert _table_row(out, "swapped") == {"readings": 1, "same": 0, "REFER": 0, "no MRZ": 0, "WRONG": 1}, out
    differs = [f"{a}->{b}" for a, b in zip("".join(doc.lines), "".join(other.lines), strict=True) if a != b]
    assert f"page.png, another page: {' '.join(differs)} (" in out


@pytest.mark.parametrize("family", list(vision_probe.FAMILIES))
def test_every_alteration_changes_the_image_and_keeps_it_an_rgb_image(family):
    image = Image.fromarray(page(13, "TD1").image)
    for name, alter in vision_probe.FAMILIES[family][1].items():
        altered = alter(image).convert("RGB")
        same_size = altered.size == image.size
        assert not (same_size and np.array_equal(np.asarray(altered), np.asarray(image))), name


def test_an_unknown_family_is_a_clear_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        vision_probe.main(["x.png", "--families", "camera,smudges"])
    assert exit_.value.code == 2
    assert "unknown families smudges; known: camera, angle, glare, covered, print, light" in capsys.readouterr().err
