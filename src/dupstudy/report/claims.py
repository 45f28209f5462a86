"""The comparison with the paper: its published numbers next to ours, and its claims tested on this run."""

from __future__ import annotations

import numpy as np

from .. import stats
from ..params import section_defaults
from ..stats import t_interval
from . import paper
from .html import _diff_text, _fmt_ci, _note, _p, _pixels, _rate_str, _restarts, _sentences, _table, _verdict_cell
from .paper import FACTS, FIGURES, PAPER
from .verdicts import VERDICT_RULES, _cell_verdict, _diff, _verdict


def _said(key: str) -> str:
    """A statement about the paper's code followed by its source, e.g. "… (notebook X, cell 3)"."""
    return f"{FACTS[key].text} ({FACTS[key].cite})"


def _sources() -> list[dict]:
    """The paper's figures and the statements about its code, each with its source: listed under the comparison."""
    figures = [{"text": f"{f.text}: {f.what}. In the paper: {f.where}."
                        + (f" Check: {f.check}" + (f" ({f.evidence})" if f.sources else "") + "."
                           if f.check else ""),
                "href": f.sources[0].url if f.sources else PAPER["url"]} for f in FIGURES.values()]
    facts = [{"text": f"{f.text}. Source: {f.evidence}.", "href": f.sources[0].url}
             for f in FACTS.values()]
    refs = [{"text": f"{r.text[0].upper()}{r.text[1:]}: {r.citation}.", "href": r.url}
            for r in paper.REFERENCES.values()]
    return [{"type": "links", "title": "Published figures (values as the paper prints them)", "items": figures},
            {"type": "links", "title": f"What the paper's notebooks do (github.com/{paper.REPO}; cells counted from 1 "
                                       "in file order)", "items": facts},
            {"type": "links", "title": "Other work cited", "items": refs}]


class _Claims:
    """The _Builder's section “Published vs ours” and its table of the paper's claims."""

    def _ours_at(self, trainer: str, rate: float) -> tuple[str, tuple | None]:
        """(ours as text, its (mean, low, high) or None)."""
        s = self.summary
        if s is None:
            return "no runs", None
        f = s[(s["trainer"] == trainer) & np.isclose(s["rate"], rate)]
        if rate > 0:
            f = f[f["scheme"] == "uniform"] if (f["scheme"] == "uniform").any() else f.iloc[0:0]
        vals = f.groupby("seed")["clean_acc"].mean().dropna()
        if vals.empty:
            return "not run at this D-rate", None
        ci = stats.bounded(t_interval(vals.to_numpy(float)))
        return _fmt_ci(*ci, len(vals)), ci

    def section_comparison(self) -> dict:
        cifar = self.dataset.lower() == "cifar10"
        ref = paper.REFERENCES["cifar_94"]
        blocks = [_p(
            "The paper's numbers next to ours. CIFAR-10 rows compare the uniform scheme at the same nominal D-rate, "
            "which the paper's two CIFAR-10 experiments read differently. "
            + _sentences(_said("std_copies"), _said("pgd_copies"), _said("test_augmented"), _said("shared_optimizer"),
                         f"{_said('model')}; without duplicates the standard one reaches "
                         f"{FIGURES['standard_0'].text}, while {ref.text} ({ref.citation})", _said("epochs"),
                         f"the figure numbers given for the published figures are those of {paper.STUDY_NOTES}; "
                         "neither they nor the pages were checked against the paper here",
                         "the lists under the table give each published figure and each statement about the "
                         "paper's notebooks with the notebook cells and lines that show it"))]
        if not cifar:
            blocks.append(_note(f"Our run is on {self.dataset}, not CIFAR-10: the CIFAR-10 numbers are not comparable "
                                "and are left out of the “ours” column."))
        rows = []
        for trainer, label in (("standard", "CIFAR-10, standard training: clean accuracy"),
                               ("pgd", "CIFAR-10, PGD adversarial training: clean accuracy")):
            for rate in paper.RATES:
                fig = paper.cifar(trainer, rate)
                ours, ci = self._ours_at(trainer, rate) if cifar else (f"not comparable (our run: {self.dataset})",
                                                                       None)
                note = f"{_cell_verdict(float(fig), ci)}. paper: {paper.their_duplicates(trainer, rate)}; {fig.check}"
                note += f" ({fig.cite})" if fig.sources else ""
                rows.append([label, _rate_str(rate), fig.text, ours, note])
        g_paper = FIGURES["gauss_biased_40_without"], FIGURES["gauss_biased_40_with"]
        g_without = g_with = "Gaussian study not available"
        if self.gauss is not None:
            gs = self.gauss["summary"]
            sel = gs[(gs["scheme"] == "biased") & np.isclose(gs["rate"], 0.4)]
            if sel.empty:
                g_without = g_with = "D-rate 40 % not run"
            else:
                def pick(metric):
                    r = sel[sel["metric"] == metric]
                    if r.empty:
                        return "–"
                    r = r.iloc[0]
                    return _fmt_ci(100 * r["mean"], 100 * r["ci_low"], 100 * r["ci_high"], int(r["n"]))
                g_without, g_with = pick("base_acc_all"), pick("acc_all")
        bayes = self.gauss["bayes_acc"] if self.gauss else None
        gnote = ("same setup; large independent test set per seed"
                 + (f"; the Bayes-optimal accuracy is {bayes:.3f}; the paper's {g_paper[0].value} is above it because "
                    f"it is accuracy on the training points ({FACTS['gauss_train_acc'].cite})" if bayes else "")
                 + f"; the paper's “40” is {paper.GAUSS_40_COPIES} copies added to its {paper.GAUSS_POINTS} "
                   f"training points ({FACTS['gauss_label'].cite})")
        rows.append(["2-D Gaussians, biased duplication: overall accuracy without duplicates", "40 %",
                     f"{g_paper[0].value} ({100 * float(g_paper[0]):g} %)", g_without, gnote])
        rows.append(["2-D Gaussians, biased duplication: overall accuracy with duplicates", "40 %",
                     f"{g_paper[1].value} ({100 * float(g_paper[1]):g} %)", g_with, "ours: mean [95 % CI] over seeds"])
        blocks.append(_table(["quantity", "D-rate", "published", "ours: mean [95 % CI] (n seeds)", "note"], rows,
                             caption="Published vs ours", css="comparison"))
        blocks += _sources()
        blocks.append(_p("How verdicts are decided: " + VERDICT_RULES + f" Here the margin is ±"
                         f"{self.params.get('report', {}).get('equivalence_margin', 1.0):g} pp. Accuracy verdicts use "
                         "accuracy on the test images without a duplicate in the training set; the figure on all test "
                         "images stands beside it."))
        blocks.append(_table(["paper claim", "verdict", "our evidence", "reason"], self.claims(),
                             caption="Paper claims tested by this run", css="claims"))
        return {"id": "comparison", "title": "Published vs ours", "blocks": blocks}

    # ------------------------------------------------------------------ claims

    def _max_rate(self, trainer: str, scheme: str, target: float = 0.6) -> float | None:
        s = self.summary
        if s is None:
            return None
        rates = sorted(s[(s["trainer"] == trainer) & (s["scheme"] == scheme) & (s["rate"] > 0)]["rate"].unique())
        if not rates:
            return None
        return min(rates, key=lambda r: (abs(r - target), -r))

    def claims(self) -> list[list]:
        rows = []
        ds = self.dataset
        on = "" if ds.lower() == "cifar10" else f"tested on {ds}, not CIFAR-10"
        s = self.summary
        base_std = base_pgd = float("nan")
        if s is not None:
            z = s[s["rate"] == 0]
            base_std = float(z[z["trainer"] == "standard"]["clean_acc"].mean())
            base_pgd = float(z[z["trainer"] == "pgd"]["clean_acc"].mean())
        std0, std60 = paper.cifar("standard", 0.0), paper.cifar("standard", 0.6)
        pgd0, pgd60 = paper.cifar("pgd", 0.0), paper.cifar("pgd", 0.6)
        their_std_rate = (f"their standard-training D-rate 60 % meant {paper.their_duplicates('standard', 0.6)}, "
                          "beyond this grid; the direction at r < 1 is what is tested here")
        their_pgd_rate = f"their PGD D-rate 60 % meant {paper.their_duplicates('pgd', 0.6)}"

        margin = self.params.get("report", section_defaults("report"))["equivalence_margin"]

        def tested(metric: str, trainer: str, expect: str) -> tuple[float | None, dict | None, str, str, str]:
            """(rate, diff, verdict, why, evidence) on `metric` without the leaked test images, the leaky beside."""
            r = self._max_rate(trainer, "uniform")
            clean = f"{metric}_no_leak" if s is not None and f"{metric}_no_leak" in s else metric
            d = _diff(s, clean, trainer, "uniform", r) if r is not None else None
            v, why = _verdict(d, expect, margin)
            leaky = _diff(s, metric, trainer, "uniform", r) if r is not None and clean != metric else None
            evidence = ((f"uniform, r = {_rate_str(r)}: " if r is not None else "") + _diff_text(d)
                        + (" without leaked test images" if clean != metric and d is not None else "")
                        + (f"; all test images: {_diff_text(leaky)}" if leaky is not None else ""))
            return r, d, v, why, evidence

        # C1 standard training gains
        r, d, v, why, evidence = tested("clean_acc", "standard", "up")
        rows.append(["Standard training: duplicating training images raises clean accuracy "
                     f"(CIFAR-10, {std0.value} → {std60.text} from D-rate 0 to 60)",
                     _verdict_cell(v), evidence,
                     _sentences(why, on,
                                f"our baseline reaches {base_std:.1f} % at r = 0 (theirs {std0.text}, a weak 2-conv "
                                f"CNN; {FACTS['model'].cite})" if np.isfinite(base_std) else "", their_std_rate)])

        # C2 PGD clean accuracy falls
        r, d, v, why, evidence = tested("clean_acc", "pgd", "down")
        rows.append(["PGD adversarial training: duplication lowers clean accuracy "
                     f"({pgd0.value} → {pgd60.text} from D-rate 0 to 60)",
                     _verdict_cell(v), evidence,
                     _sentences(why, on,
                                f"our PGD-AT baseline reaches {base_pgd:.1f} % clean (theirs {pgd0.text})"
                                if np.isfinite(base_pgd) else "",
                                f"their PGD ran in [-1, 1] units with ε = {paper.PGD_EPS:g} and clamped to [0, 1], a "
                                f"non-standard threat model ({FACTS['pgd'].cite})", their_pgd_rate,
                                f"their clean accuracy is one run per D-rate and not monotonic in it "
                                f"({FACTS['pgd_printed'].cite})")])

        # C3 robust accuracy not improved: a claim of no effect, decided by an equivalence test
        if s is not None and "robust_acc" in s:
            r, d, v, why, evidence = tested("robust_acc", "pgd", "not_up")
        else:
            d, (v, why), evidence = None, _verdict(None, "not_up", margin), "–"
        atk = self.params.get("attack", {})
        rows.append(["PGD adversarial training: duplication does not improve adversarial accuracy",
                     _verdict_cell(v), evidence,
                     _sentences(why, on,
                                f"our attack: PGD-{atk.get('eval_steps', '–')}, ε = {_pixels(atk.get('eps'))}, "
                                f"{_restarts(atk.get('eval_restarts'))}" if atk else "",
                                "their adversarial test accuracy is flat across D-rates 0, 30 and 60 "
                                f"({FACTS['pgd_printed'].cite})")])

        # C4 slower convergence, per trainer, at equal optimizer steps
        for trainer in ("standard", "pgd"):
            d, text, how = self._convergence_diff(trainer)
            v, why = _verdict(d, "up", 0.0)
            rows.append([f"Training converges more slowly with duplicates ({trainer})", _verdict_cell(v), text,
                         _sentences(why, on, how)])

        # C5 a drop on CIFAR-100 / ImageNet subsets, attributed to the paper but not found in it here
        drop = FIGURES["drop_up_to"]
        c5 = (f"Clean accuracy drops by up to {drop.text} (CIFAR-100 / ImageNet subsets; attributed to the paper, "
              f"{drop.where})")
        if ds.lower() == "cifar100" and s is not None:
            drops = []
            for trainer in sorted(s["trainer"].unique()):
                for scheme in sorted(s.loc[s["rate"] > 0, "scheme"].unique()):
                    for rate in sorted(s.loc[(s["scheme"] == scheme) & (s["rate"] > 0), "rate"].unique()):
                        d = _diff(s, "clean_acc", trainer, scheme, rate)
                        if d is not None:
                            drops.append((d["diff"], d, f"{trainer}/{scheme}/r = {_rate_str(rate)}"))
            if drops:
                worst = min(drops, key=lambda t: t[0])
                v, why = _verdict(worst[1], "down", margin)
                rows.append([c5, _verdict_cell(v),
                             f"largest drop: {worst[2]}: " + _diff_text(worst[1]),
                             _sentences(why, "ImageNet subsets were not run")])
            else:
                rows.append([c5, _verdict_cell("not tested"), "–", "no runs with duplicates"])
        else:
            rows.append([c5, _verdict_cell("not tested"),
                         "–", _sentences(f"this run is on {ds}; CIFAR-100 and ImageNet subsets were not run")])

        rows += self._gaussian_claims()
        return rows

    def _convergence_diff(self, trainer: str) -> tuple[dict | None, str, str]:
        """Training loss near the end of training, duplicates vs none: (diff, evidence, how it was compared).

        Under the steps budget every variant runs the same schedule, so the loss is compared over the same last
        10 % of steps. Under the epochs budget each variant's one-cycle schedule spans its own number of steps, so
        the loss is compared over the last 10 % of each run's own schedule (equal fractions), never at the
        baseline's last step, where the baseline's rate is near 0 and a longer run's is not."""
        c = self.curves_all if self.curves_all is not None else self.curves
        if c is None:
            return None, "training curves not available", ""
        if "budget" in c and (c["budget"].astype(str) == "steps").any():
            c, how = c[c["budget"].astype(str) == "steps"], "compared at equal optimizer steps (the steps budget)"
        else:
            c = c[c["budget"].astype(str) == self.budget] if "budget" in c else c
            how = ("compared at equal fractions of each run's schedule (the epochs budget gives larger variants "
                   "more steps; run grid.budgets: [steps] to compare at equal steps)")
        rates = sorted(c[(c["trainer"] == trainer) & (c["scheme"] == "uniform") & (c["rate"] > 0)]["rate"].unique())
        if not rates:
            return None, f"no {trainer} curves with duplicates", how
        r = rates[-1]
        f = c[(c["trainer"] == trainer) & ((np.isclose(c["rate"], r) & (c["scheme"] == "uniform")) | (c["rate"] == 0))]
        runs = ["scheme", "rate", "seed"]
        last = f.groupby(runs)["step"].transform("max")
        window = f[f["step"] > 0.9 * last]
        loss = window.groupby(runs, as_index=False)["loss"].mean()
        d = _diff(loss.assign(trainer=trainer), "loss", trainer, "uniform", r)
        if d is None:
            return None, "–", how
        text = (f"uniform, r = {_rate_str(r)}, mean training loss over the last 10 % of steps: "
                f"{d['mean_lo']:.3f} → {d['mean_hi']:.3f}; "
                f"change {_fmt_ci(d['diff'], d['lo'], d['hi'], unit='', digits=3)}"
                f" ({d['how']}, n={d['n']})")
        return d, text, how

    def _gaussian_claims(self) -> list[list]:
        rows = []
        band, share = FIGURES["gauss_uniform_band"], FIGURES["gauss_balanced_share"]
        without, with_ = FIGURES["gauss_biased_40_without"], FIGURES["gauss_biased_40_with"]
        near_lo, near_hi = float(share) - 5, float(share) + 5  # D-ratio +1 counted as "near", in %
        claims = [
            f"2-D Gaussians, uniform duplication: accuracy moves within about ±{band.text}",
            f"2-D Gaussians, uniform duplication helps when D-ratio +1 is near {share.text}",
            "2-D Gaussians, biased duplication shifts the boundary toward the under-duplicated class "
            "(class -1 loses, class +1 gains)",
            f"2-D Gaussians, biased duplication lowers overall accuracy (D-rate 40: {without.value} → {with_.value})",
        ]
        if self.gauss is None:
            return [[c, _verdict_cell("not tested"), "–", "Gaussian study not available."] for c in claims]
        ps = self.gauss["per_seed"].copy()
        for m in ("acc_neg", "acc_pos", "acc_all"):
            ps[f"delta_{m}"] = 100 * (ps[m] - ps[f"base_{m}"])
        uni = ps[ps["scheme"] == "uniform"]
        # C-G1: within the paper's band
        if uni.empty:
            rows.append([claims[0], _verdict_cell("not tested"), "–", "Uniform scheme not run."])
        else:
            by_rate = uni.groupby("rate")["delta_acc_all"].apply(lambda v: t_interval(v.to_numpy(float)))
            lo = min(x[1] if np.isfinite(x[1]) else x[0] for x in by_rate)
            hi = max(x[2] if np.isfinite(x[2]) else x[0] for x in by_rate)
            worst_class = float(np.nanmax(np.abs(uni[["delta_acc_neg", "delta_acc_pos"]].groupby(uni["rate"]).mean()
                                                 .to_numpy(float))))
            v = "supported" if max(abs(lo), abs(hi)) <= float(band) else "not supported"
            rows.append([claims[0], _verdict_cell(v),
                         f"overall change per rate within [{lo:.2f}, {hi:.2f}] pp (95 % CIs); largest mean per-class "
                         f"change {worst_class:.2f} pp",
                         f"The bound holds: every change is well inside ±{band.text}." if v == "supported" else
                         f"Some change exceeds {band.value} points."])
        # C-G2: helps near the paper's balanced share
        near = uni[uni["d_ratio_pos"].between(near_lo / 100, near_hi / 100)] if not uni.empty else uni
        # one value per seed (the mean over its near-balanced cells): cells of one seed share the baseline
        per_seed = near.groupby("seed")["delta_acc_all"].mean() if len(near) else near
        if len(per_seed) < 2:
            rows.append([claims[1], _verdict_cell("not tested"), "–",
                         f"Too few seeds with uniform runs whose D-ratio +1 is within {near_lo:g}–{near_hi:g} %."])
        else:
            m, lo, hi = t_interval(per_seed.to_numpy(float))
            v = "supported" if lo > 0 else "not supported"
            rows.append([claims[1], _verdict_cell(v),
                         f"{len(near)} uniform cells with D-ratio +1 in {near_lo:g}–{near_hi:g} %, averaged per seed "
                         f"(n={len(per_seed)} seeds): overall change {_fmt_ci(m, lo, hi, unit=' pp')}",
                         "A gain is detectable when the copies are balanced." if v == "supported" else
                         "No significant gain: copies carry no new information about the distribution, they only "
                         "re-weight points already in the training set."])
        bia = ps[ps["scheme"] == "biased"]
        rate = 0.4 if np.isclose(bia["rate"], 0.4).any() else (float(bia["rate"].max()) if len(bia) else None)
        if rate is None:
            rows.append([claims[2], _verdict_cell("not tested"), "–", "Biased scheme not run."])
            rows.append([claims[3], _verdict_cell("not tested"), "–", "Biased scheme not run."])
            return rows
        b = bia[np.isclose(bia["rate"], rate)]
        neg = t_interval(b["delta_acc_neg"].to_numpy(float))
        pos = t_interval(b["delta_acc_pos"].to_numpy(float))
        allc = t_interval(b["delta_acc_all"].to_numpy(float))
        ok = np.isfinite(neg[2]) and neg[2] < 0 and np.isfinite(pos[1]) and pos[1] > 0
        rows.append([claims[2], _verdict_cell("supported" if ok else ("not tested" if not np.isfinite(neg[2]) else
                                                                       "not supported")),
                     f"r = {_rate_str(rate)}: class -1 {_fmt_ci(*neg, unit=' pp')}, "
                     f"class +1 {_fmt_ci(*pos, unit=' pp')} "
                     f"(paired by seed, n={len(b)})",
                     "Over-represented class +1 copies widen its region, as the paper says."
                     if ok else "The per-class changes are not both significant in the claimed direction."])
        if not np.isfinite(allc[2]):
            v = "not tested"
        else:
            v = "supported" if allc[2] < 0 else "not supported"
        size = ""
        drop = 100 * (float(without) - float(with_))  # the paper's drop, in points
        if np.isfinite(allc[1]) and v == "supported":
            inside = allc[1] <= -drop <= allc[2]
            size = (f"the paper's drop of {drop:g} points lies inside our CI" if inside else
                    f"the direction holds but not the size: the paper's drop of {drop:g} points lies outside our CI")
        bayes = self.gauss["bayes_acc"]
        rows.append([claims[3], _verdict_cell(v),
                     f"r = {_rate_str(rate)}: {100 * b['base_acc_all'].mean():.2f} → "
                     f"{100 * b['acc_all'].mean():.2f} %; "
                     f"change {_fmt_ci(*allc, unit=' pp')} (n={len(b)})",
                     _sentences(size, f"their {without.value} without duplicates exceeds the Bayes-optimal "
                                      f"{bayes:.3f}: it is accuracy on their {paper.GAUSS_POINTS} training points "
                                      f"({FACTS['gauss_train_acc'].cite})")])
        return rows
