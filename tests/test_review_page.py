"""review.html, the offline review page: what it carries (fast), and a person's session in a real
headless Chromium (slow): filter, decide by key and by click, undo, export, and the next dedup run
applying the export; the precision sample labelled in the page and read by `dupstudy precision`."""

import base64
import io
import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.datasets import load_sample_images
from test_dedup_aligned import view
from test_dedup_engine import dataset, result  # noqa: F401  (module fixtures)

from dupstudy import stats
from dupstudy.dedup import engine, review, review_page, turned

BIN = sys.executable.rsplit("/", 1)[0]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FIREFOX = shutil.which("firefox-esr") or shutil.which("firefox")


def page_json(text: str) -> dict:
    return json.loads(re.search(r'<script type=application/json id=data>(.*?)</script>', text, re.S)[1]
                      .replace("<\\/", "</"))


def atlas_images(text: str) -> list[np.ndarray]:
    return [np.asarray(Image.open(io.BytesIO(base64.b64decode(a))).convert("RGB"))
            for a in re.findall(r'<script type="text/plain" class="atlas">([^<]*)</script>', text)]


def test_page_carries_pairs_audit_sample_and_exact_pixels(result, dataset, tmp_path):  # noqa: F811
    sample = review.review_sample(result.pairs, dataset.manifest, n=5, seed=1)
    path = review_page.write_page(tmp_path / "review.html", result.pairs, dataset, result.groups, sample)
    text = path.read_text()
    assert "http://" not in text and "https://" not in text  # nothing to fetch: it opens offline
    d = page_json(text)
    assert d["n_pairs"] == len(result.pairs) and sum(d["pairs"]["shown"]) == len(result.pairs)
    ids, p = np.asarray(d["images"]["id"]), d["pairs"]
    got = set(zip(ids[p["a"]].tolist(), ids[p["b"]].tolist()))
    assert got == set(zip(result.pairs["a"], result.pairs["b"]))
    # the audit: every removed train image (up to AUDIT_SAMPLE) beside its keeper, through their pair
    removed = result.groups[~result.groups["is_keeper"]]
    assert len(d["audit"]) == len(removed)
    keeper = dict(zip(removed["id"], removed["group"]))
    for img, kept, k in d["audit"]:
        assert keeper[ids[img]] == ids[kept] and {p["a"][k], p["b"][k]} == {img, kept}
    assert [(ids[p["a"][k]], ids[p["b"][k]]) for k in d["sample"]] == list(zip(sample["a"], sample["b"]))
    # each image's cell of the lossless atlas holds its exact pixels
    sheet, cell = atlas_images(text)[0], re.search(r'"cell":(\{[^}]*\})', text)[1]
    cell = json.loads(cell)
    for k, i in enumerate(ids):
        r, c = divmod(k, cell["cols"])
        got = sheet[r * cell["h"]:(r + 1) * cell["h"], c * cell["w"]:(c + 1) * cell["w"]]
        want = dataset.images[i] if dataset.images.shape[-1] == 3 else np.repeat(dataset.images[i], 3, -1)
        np.testing.assert_array_equal(got, want)


def test_beyond_max_pairs_a_sample_that_keeps_audit_and_sample_pairs(result, dataset, monkeypatch):  # noqa: F811
    monkeypatch.setattr(review_page, "MAX_PAIRS", 2)
    sample = review.review_sample(result.pairs, dataset.manifest, n=3, seed=0)
    m = dataset.manifest.sort_values("id").reset_index(drop=True)
    d, ids = review_page.page_data(result.pairs, m, dataset.classes, result.groups, sample, None, "t",
                                   dataset.images)
    assert sum(d["pairs"]["shown"]) == 2 and d["n_pairs"] == len(result.pairs) > 2
    assert len(d["sample"]) == 3 and len(d["audit"]) == int((~result.groups["is_keeper"]).sum())


def test_a_run_without_pairs_still_has_its_page(dataset, tmp_path):  # noqa: F811
    none = engine.find_duplicates(dataset, {"aligned": False}).pairs.iloc[:0]
    sample = review.review_sample(none, dataset.manifest, n=5)
    empty_groups = pd.DataFrame(columns=engine.GROUP_COLUMNS)
    d = page_json(review_page.write_page(tmp_path / "r.html", none, dataset, empty_groups, sample).read_text())
    assert d["n_pairs"] == 0 and d["pairs"]["a"] == [] and d["audit"] == [] and d["sample"] == []


def test_lossy_atlases_past_the_budget(monkeypatch):
    x = np.random.default_rng(0).integers(0, 256, (50, 32, 32, 3), dtype=np.uint8)
    sheets, cell, how = review_page.thumbnails(x, np.arange(50))
    assert how == "lossless WebP" and cell["w"] == 32
    monkeypatch.setattr(review_page, "LOSSLESS_BUDGET", 1000)
    lossy, _, how = review_page.thumbnails(x, np.arange(50))
    assert how.startswith("lossy WebP") and len(lossy[0]) < len(sheets[0])
    big, cell, _ = review_page.thumbnails(np.zeros((2, 300, 200, 3), np.uint8), np.arange(2))
    assert (cell["h"], cell["w"]) == (review_page.THUMB_MAX, 85)  # large images shrink, aspect kept


@pytest.mark.parametrize("turn", range(8))
def test_placement_lays_b_onto_a(turn):
    a = view(load_sample_images().images[0], 100, 200)
    b = np.rot90(a[:, ::-1] if turn & 4 else a, turn % 4)  # b is a turned; the placement must undo it
    t = turned.placement(np.stack([a, b]), np.array([0]), np.array([1]))[0]
    np.testing.assert_array_equal(turned.turn(b, t), a)


# ---------------------------------------------------------------- in the browser

def photo_folder(root):
    """train/<photo>/ windows of two real photos and test/ copies: shifted, mirrored, turned, and one
    under the other photo's class (a label conflict)."""
    photos = load_sample_images().images
    names = ["china", "flower"]
    for name, photo in zip(names, photos):
        for k, (top, left) in enumerate([(40, 40), (40, 200), (200, 40), (200, 200), (120, 300), (260, 120)]):
            save(root / "train" / name / f"w{k}.png", view(photo, top, left))
        save(root / "train" / name / "w0_shift.png", view(photo, 49, 40))             # aligned
        save(root / "train" / name / "w1_mirror.png", view(photo, 40, 200)[:, ::-1])  # flip_rot
        save(root / "train" / name / "w2_turned.png", np.rot90(view(photo, 200, 40)))  # flip_rot
        save(root / "test" / name / "t3.png", view(photo, 200, 200))                   # leaked
    save(root / "train" / "flower" / "china_w4.png", view(photos[0], 120, 300))       # label conflict


def save(path, x):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(x)).save(path)


def dedup(*args):
    proc = subprocess.run([f"{BIN}/dupstudy", "dedup", *map(str, args)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.fixture(scope="module")
def photos_run(tmp_path_factory):
    """(the photo folder, the results of `dupstudy dedup` on it), made once for the module."""
    tmp = tmp_path_factory.mktemp("photos")
    root, out = tmp / "photos", tmp / "out"
    photo_folder(root)
    dedup(root, "--out", out)
    return root, out


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (Debian package chromium; .ci/run installs it where apt-get works)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (the [test] extra) is not installed")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync"])
        yield b
        b.close()


def open_page(browser, html, width=1300, height=900):
    ctx = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(html.resolve().as_uri())
    page.wait_for_selector("body[data-ready]")
    page.errors = errors
    return page


def cards(page):
    """[pair, decision class] of each card on screen."""
    return page.eval_on_selector_all(".card", "els => els.map(e => [e.dataset.pair, "
                                              "e.className.replace(/\\b(card|focus)\\b/g, '').trim()])")


def export(page, button, path):
    page.keyboard.press("4")
    with page.expect_download() as dl:
        page.click(button)
    dl.value.save_as(path)
    return path


@pytest.mark.slow
def test_decide_in_the_browser_then_the_next_run_applies_it(browser, photos_run, tmp_path):
    root, out = photos_run
    pairs = pd.read_parquet(out / "pairs.parquet")
    page = open_page(browser, out / "review.html")

    # the screenshot a person sees at 1300 px: the grid, with pictures in it
    shot = tmp_path / "shot.png"
    page.screenshot(path=shot)
    px = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int16)
    assert px.shape[1] == 1300
    assert ((px.max(2) - px.min(2)) > 40).mean() > 0.05, "no coloured pictures on the page"
    assert len(cards(page)) == min(len(pairs), 9) or len(cards(page)) >= 6

    # filters show their counts and narrow the grid
    kinds = pairs["kind"].value_counts()
    options = page.eval_on_selector_all("#f-kind option", "os => os.map(o => o.textContent)")
    assert f"all ({len(pairs)})" in options and f"flip_rot ({kinds['flip_rot']})" in options
    page.select_option("#f-kind", "flip_rot")
    shown = cards(page)
    assert len(shown) == kinds["flip_rot"] == 4
    page.select_option("#f-kind", "")
    page.select_option("#f-conflict", "label conflict")
    assert [c[0] for c in cards(page)] == ["train/china/w4.png | train/flower/china_w4.png"]
    page.select_option("#f-conflict", "")
    # with the keyboard alone: tab to a filter, pick with the arrows, Esc back to the grid, decide
    page.focus("#f-scope")
    page.keyboard.press("ArrowDown")   # the first scope after "all"
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.id") == "grid"
    assert len(cards(page)) < len(pairs)
    page.select_option("#f-scope", "")

    # decide: keep both by key, duplicate by click, then one more by key, undone
    page.select_option("#f-kind", "flip_rot")
    first, second, third = (c[0] for c in cards(page)[:3])
    page.focus("#grid")
    page.keyboard.press("k")                                   # focus is on the first card
    page.click('.card[data-k="1"] button[data-decide="duplicate"]')
    page.keyboard.press("s")                                   # the third: skip
    page.keyboard.press("d")                                   # the fourth: duplicate ...
    page.keyboard.press("u")                                   # ... undone
    state = dict(cards(page))
    assert (state[first], state[second], state[third]) == ("keep_both", "duplicate", "skip")
    assert cards(page)[3][1] == ""
    assert "3 of 4 decided" in page.text_content("#ptext")

    # saved in the browser: a reload keeps them
    page.reload()
    page.wait_for_selector("body[data-ready]")
    page.select_option("#f-kind", "flip_rot")
    assert dict(cards(page)) == state

    decisions = export(page, "#dl-decisions", tmp_path / "decisions.csv")
    d = pd.read_csv(decisions)
    assert list(d.columns) == ["a", "b", "decision"] and len(d) == 2  # skipped pairs are not exported
    assert {(tuple(sorted((r.a, r.b))), r.decision) for r in d.itertuples()} == {
        (tuple(first.split(" | ")), "keep_both"), (tuple(second.split(" | ")), "duplicate")}
    assert not page.errors

    # the next run reads the export: the pair kept apart is no longer grouped, both images stay
    out2 = tmp_path / "out2"
    printed = dedup(root, "--out", out2, "--decisions", decisions)
    assert "1 pairs kept apart" in printed and "1 confirmed" in printed
    kept_apart = tuple(first.split(" | "))
    pairs2 = pd.read_parquet(out2 / "pairs.parquet")
    assert kept_apart not in set(zip(pairs2["path_a"], pairs2["path_b"])) | set(zip(pairs2["path_b"], pairs2["path_a"]))
    images = pd.read_csv(out2 / "images.csv")
    kept = set(images.set_index("id").loc[np.load(out2 / "kept_train_ids.npy"), "path"])
    assert set(kept_apart) <= kept
    # ... and its page exports the earlier decisions too, so nothing is lost by passing only the new file
    page2 = open_page(browser, out2 / "review.html")
    again = pd.read_csv(export(page2, "#dl-decisions", tmp_path / "again.csv"))
    assert sorted(map(tuple, again.to_numpy())) == sorted(map(tuple, d.to_numpy()))


@pytest.mark.slow
def test_precision_sample_labelled_in_the_browser(browser, photos_run, tmp_path):
    root, out = photos_run
    sample = pd.read_csv(out / "review_sample.csv")
    page = open_page(browser, out / "review.html")
    page.focus("#grid")
    page.keyboard.press("3")
    assert len(cards(page)) == len(sample) >= 5
    page.focus("#grid")
    labels = ["d", "d", "k", "d", "s"] + ["d"] * (len(sample) - 5)
    for key in labels:
        page.keyboard.press(key)
    yes, n = labels.count("d"), labels.count("d") + labels.count("k")
    lo, hi = stats.wilson_interval(yes, n)
    text = page.text_content("#precision-stats")
    assert f"Labelled: {n} of {len(sample)}" in text
    assert f"precision {100 * yes / n:.1f} % (95 % Wilson {100 * lo:.1f} %-{100 * hi:.1f} %)" in text

    labelled = export(page, "#dl-sample", tmp_path / "labelled.csv")
    got = pd.read_csv(labelled, keep_default_na=False)
    assert list(got.columns) == review.SAMPLE_COLUMNS
    assert got[["a", "b", "path_a", "path_b"]].equals(sample[["a", "b", "path_a", "path_b"]])
    proc = subprocess.run([f"{BIN}/dupstudy", "precision", str(labelled)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert f"precision {yes / n:.3f} (95 % Wilson interval {lo:.3f}-{hi:.3f}) from {n} labelled pairs" in proc.stdout
    assert "1 unlabelled rows skipped" in proc.stdout
    assert not page.errors


@pytest.mark.slow
def test_audit_shows_each_removal_beside_its_keeper(browser, photos_run, tmp_path):
    root, out = photos_run
    groups = pd.read_parquet(out / "groups.parquet")
    removed = groups[~groups["is_keeper"]]
    page = open_page(browser, out / "review.html")
    page.keyboard.press("2")
    shown = page.eval_on_selector_all(".card figcaption", "fs => fs.map(f => [f.textContent.match("
                                      "/\\((removed|kept)\\)/)[1], f.querySelector('.path').textContent])")
    assert len(shown) == 2 * len(removed)
    keeper_path = groups.set_index("id")["path"]
    assert sorted(p for r, p in shown if r == "removed") == sorted(removed["path"])
    assert sorted(p for r, p in shown if r == "kept") == sorted(keeper_path.loc[removed["group"]])
    page.focus("#grid")
    page.keyboard.press("k")  # the first removal was wrong
    assert "right to remove: 0 (0.0 %" in page.text_content("#audit-stats")
    assert not page.errors


DIFFERENCE = """() => [...document.querySelectorAll('.card')].map(el => {
  const c = el.querySelectorAll('canvas')[1], d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let sum = 0, n = 0;
  for (let k = 0; k < d.length; k += 4) if (d[k + 3]) { sum += d[k] + d[k + 1] + d[k + 2]; n++; }
  return [el.dataset.pair, sum / (3 * n), n / (d.length / 4)]; })"""


@pytest.mark.slow
def test_difference_view_lays_b_onto_a(browser, photos_run):
    """The difference view turns, mirrors, shifts and zooms B as the engine found: exact turned
    and mirrored copies vanish; the shifted copy (resampled from the photo) nearly does, over
    the part of A it covers."""
    _, out = photos_run
    page = open_page(browser, out / "review.html", height=4000)  # every card on screen
    page.select_option("#view", "2")
    page.wait_for_timeout(500)
    diff = {pair: (mean, covered) for pair, mean, covered in page.evaluate(DIFFERENCE)}
    for name in ("china", "flower"):
        assert diff[f"train/{name}/w1.png | train/{name}/w1_mirror.png"][0] == 0
        assert diff[f"train/{name}/w2.png | train/{name}/w2_turned.png"][0] == 0
    mean, covered = diff["train/china/w0.png | train/china/w0_shift.png"]  # "shift 3,0"
    assert mean < 25 and 0.85 < covered < 0.95, (mean, covered)  # 3 of 32 rows uncovered
    assert not page.errors


@pytest.mark.slow
@pytest.mark.skipif(FIREFOX is None, reason="Firefox is not installed (Debian package firefox-esr; .ci/run installs it "
                                            "where apt-get works)")
def test_the_page_renders_in_firefox(photos_run, tmp_path):
    """Firefox has no Playwright driver here (its build is patched): its own headless screenshot
    shows that the page builds its grid and draws the pictures there too."""
    root, out = photos_run
    # --screenshot shoots at the load event, and the grid draws its pictures once the browser has
    # decoded them, after it: on a busy machine the shot can come first, so up to 3 shots
    for attempt in range(3):
        shot, profile = tmp_path / f"firefox{attempt}.png", tmp_path / f"profile{attempt}"
        profile.mkdir()  # a new empty profile; Firefox waits for ever on one it cannot create
        proc = subprocess.run([FIREFOX, "--headless", "--no-remote", "--profile", str(profile),
                               "--screenshot", str(shot), "--window-size=1300,900", (out / "review.html").as_uri()],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
        px = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int16)
        assert px.shape[1] == 1300
        coloured = ((px.max(2) - px.min(2)) > 40).mean()
        if coloured > 0.05:
            break
    assert coloured > 0.05, "no coloured pictures in 3 shots: the grid did not render"


def test_engine_hands_the_applied_decisions_to_the_page(dataset, tmp_path):  # noqa: F811
    p = tmp_path / "d.csv"
    p.write_text("a,b,decision\nimg5,img4,keep_both\n")
    r = engine.find_duplicates(dataset, {"decisions": str(p), "aligned": False})
    assert r.decisions.to_dict("records") == [{"a": "img4", "b": "img5", "decision": "keep_both"}]
    r.save(tmp_path / "out")
    assert page_json((tmp_path / "out" / "review.html").read_text())["earlier"] == [["img4", "img5", "keep_both"]]
