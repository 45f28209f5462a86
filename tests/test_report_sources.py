"""The paper's facts: each statement about its code has a source, each published number sits in one table,
and the report shows every source."""

import html as html_lib
import re
from pathlib import Path

import pytest

from dupstudy import gaussian
from dupstudy.report import PAPER, build_report, paper
from dupstudy.report.paper import FACTS, FIGURES, NOT_VERIFIED, NOTEBOOK_COMMITS

PARAMS = {
    "dataset": {"name": "digits"},
    "grid": {"schemes": ["uniform", "biased"], "rates": [0.0, 0.4], "trainers": ["standard", "pgd"], "seeds": [0, 1]},
    "variants": {"protocol": "additive", "biased": {"favoured_classes": [1], "favoured_share": 0.7}},
    "report": {"gallery_pairs": 0},
}


def test_every_code_fact_has_a_source():
    assert FACTS
    for fact in FACTS.values():
        assert fact.text.strip() and fact.sources, fact.key
        for s in fact.sources:
            assert s.notebook in NOTEBOOK_COMMITS and s.cell >= 1 and s.quote.strip(), (fact.key, s)
            assert NOTEBOOK_COMMITS[s.notebook] in s.url  # a link to the version read
        assert fact.cite.startswith("notebook Code/"), fact.key


def test_every_published_figure_says_where_it_is():
    for f in FIGURES.values():
        float(f.value)
        assert f.where.strip(), f.key  # a figure/table and page, or NOT_VERIFIED: never blank
        assert not f.sources or f.check, f.key  # notebook evidence always says what it shows
        for s in f.sources:
            assert s.notebook in NOTEBOOK_COMMITS and s.cell >= 1 and s.quote.strip(), (f.key, s)
    assert FIGURES["drop_up_to"].where == NOT_VERIFIED
    # figure numbers come from the study notes, unchecked against the paper: never stated as verified
    assert all(NOT_VERIFIED in f.where for f in FIGURES.values())
    assert {k: FIGURES[k].where.split(",")[0] for k in ("standard_30", "pgd_60", "gauss_biased_40_with")} == {
        "standard_30": "Fig. 3", "pgd_60": "Fig. 4", "gauss_biased_40_with": "Fig. 1 or 2"}


def test_paper_dict_is_read_from_the_table():
    for trainer in ("standard", "pgd"):
        assert PAPER[trainer] == {r: paper.cifar(trainer, r).value for r in paper.RATES}
    assert PAPER["gaussian_biased_40"] == (FIGURES["gauss_biased_40_without"].value,
                                           FIGURES["gauss_biased_40_with"].value)


def test_their_duplicates_follow_each_experiment():
    # standard training: p // 10 whole copies; PGD: p % of the images once each
    assert paper.std_copies(0.3) == 3 and paper.std_copies(0.6) == 6 and paper.std_copies(0.05) == 0
    assert paper.pgd_copies(0.3) == 15_000 and paper.pgd_copies(0.6) == 30_000
    assert "r = 3;" in paper.their_duplicates("standard", 0.3)
    assert "r = 0.6;" in paper.their_duplicates("pgd", 0.6)


def test_build_writes_no_published_number():
    """Each published number is written once, in paper.py; the report code formats it from there."""
    for name in ("build", "claims", "html", "inputs", "sections", "verdicts"):  # the report's text; not its figures
        source = (Path(paper.__file__).parent / f"{name}.py").read_text(encoding="utf-8")
        for f in FIGURES.values():
            if "." in f.value:
                assert not re.search(rf"(?<![\d.]){re.escape(f.value)}(?!\d)", source), (name, f.key)


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    root = tmp_path_factory.mktemp("sources")
    study = gaussian.run_study({"n_per_class": 30, "rates": [0.4], "favoured_share": 0.7, "seeds": 2,
                                "test_samples": 200, "svm_c": 1.0})
    gaussian.save_study(study, root / "gaussian")
    out = root / "r" / "index.html"
    build_report(out, root / "r" / "figures", params=PARAMS, summary_csv=None, curves_csv=None, per_class_csv=None,
                 gaussian_dir=root / "gaussian", dedup_dir=None, prepared_meta=None, provenance={})
    return out.read_text(encoding="utf-8")


def _section(raw: str, section_id: str) -> tuple[str, str]:
    """(html, text) of one report section; text with tags removed and entities decoded, whitespace kept."""
    start = raw.index(f'<section id="{section_id}">')
    part = raw[start:raw.index("</section>", start)]
    return part, html_lib.unescape(re.sub(r"<[^>]+>", "", part))


@pytest.mark.slow
def test_comparison_section_renders_every_source(raw):
    part, text = _section(raw, "comparison")
    for fact in FACTS.values():
        assert fact.text in text and fact.evidence in text, fact.key  # every cell and quote
        assert all(f'href="{s.url}"' in part for s in fact.sources), fact.key
    for f in FIGURES.values():
        assert f.text in text and f"In the paper: {f.where}." in text, f.key
        assert f.evidence in text, f.key
    for r in paper.REFERENCES.values():
        assert r.citation in text and f'href="{r.url}"' in part
    # the prose states the notebooks' protocol with its source, not as bare text
    for key in ("std_copies", "pgd_copies", "test_augmented", "shared_optimizer", "epochs"):
        assert f"{FACTS[key].text} ({FACTS[key].cite})" in text, key
    assert f"heir PGD ran in [-1, 1] units with ε = {paper.PGD_EPS:g}" in text  # first letter capitalised
    assert f"({FACTS['pgd'].cite})" in text


def test_gaussian_section_states_the_notebook_with_sources(raw):
    _, text = _section(raw, "gaussian")
    for key in ("gauss_setup", "gauss_weights", "gauss_label", "gauss_train_acc"):
        assert f"{FACTS[key].text} ({FACTS[key].cite})" in text, key
    assert "Figs." not in text  # the paper's figure numbers were not verified
