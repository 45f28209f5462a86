"""The report's sections other than the comparison with the paper: what was run, the results, provenance."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .. import stats
from ..grid import NAMES, allowed
from ..params import section_defaults
from ..runs import trained_once
from ..stats import t_interval
from . import figures as figs
from .claims import _said
from .html import _diff_text, _flatten, _fmt_ci, _note, _p, _pixels, _rate_str, _restarts, _sentences, _table
from .paper import FIGURES, PAPER
from .verdicts import _diff, _each_model_once, _with_shared_zero

STAGE_ORDER = ["ingest", "dedup", "variant", "train", "evaluate", "aggregate", "gaussian", "report"]


class _Sections:
    """The _Builder's sections: each method returns one section as a dict of blocks."""

    # ------------------------------------------------------------------ sections

    def section_overview(self) -> dict:
        p = self.params
        grid, train, attack = p.get("grid", {}), p.get("train", {}), p.get("attack", {})
        blocks = []
        if (p.get("report") or {}).get("note"):
            blocks.append(_p(str(p["report"]["note"]).strip()))
        if self.meta:
            counts = self.meta.get("counts", {})
            shape = "×".join(map(str, self.meta.get("shape", [])))
            blocks.append(_p(
                f"Dataset: {self.dataset} — {len(self.classes or [])} classes, images {shape}, "
                + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) + " images. "
                + self.source_text()))
        else:
            blocks.append(_p(f"Dataset: {self.dataset}."))
            blocks.append(self.unavailable("prepared dataset meta.json"))
        if self.dedup:
            before, after = self.dedup.get("n_train_before"), self.dedup.get("n_train_after")
            if before is not None and after is not None:
                blocks.append(_p(f"Before any variant was made, the training set was deduplicated: {before} → {after} "
                                 f"images, so D-rate 0 has no known duplicates."))
        schemes = grid.get("schemes", [])
        rates = grid.get("rates", [])
        trainers = grid.get("trainers", [])
        seeds = grid.get("seeds", [])
        n_cells = len(schemes) * len(rates) * len(trainers) * len(seeds)
        blocks.append(_p(
            f"Grid: duplication schemes {', '.join(map(str, schemes)) or '–'}; D-rates "
            f"{', '.join(_rate_str(r) for r in rates) or '–'}; trainers {', '.join(map(str, trainers)) or '–'}; "
            f"seeds {', '.join(map(str, seeds)) or '–'} ({n_cells} cells as configured"
            + (f", {len(trained_once(self.summary_all))} trained models found in the summary"
               if self.summary_all is not None else "")
            + ")."))
        blocks.append(_p(self.rate_definition()))
        blocks.append(_p(self.scheme_definition()))
        if train:
            steps = train.get("steps", "–")
            texts = {"epochs": f"equal epochs ({train.get('epochs', '–')} passes over each variant, so larger "
                               "variants take more optimizer steps)",
                     "steps": "equal steps (" + ("as many optimizer steps as the D-rate 0 set takes in "
                                                 f"{train.get('epochs', '–')} epochs" if steps == "auto"
                                                 else f"{steps} optimizer steps")
                              + " for every variant: equal compute)"}
            budgets = grid.get("budgets", ["epochs"])
            blocks.append(_p(
                f"Training: model {p.get('model', {}).get('arch', '–')}, budget(s): "
                + "; ".join(texts.get(b, str(b)) for b in budgets)
                + f"; batch {train.get('batch_size', '–')}, {_recipe_text(train)}."
                + (f" Sections other than “Equal epochs vs equal steps” show the {self.budget} budget."
                   if self.budget and len(budgets) > 1 else "")))
        elif self.summary is not None and {"epochs", "steps"} <= set(self.summary):
            ep, st = self.summary["epochs"], self.summary["steps"]
            blocks.append(_p(f"Training (from the model summary): {ep.min():g}–{ep.max():g} epochs, "
                             f"{st.min():g}–{st.max():g} optimizer steps per model."))
        if attack:
            eps = _pixels(attack.get("eps"))
            robust = {
                "pgd": f"pgd — PGD adversarial training at ε = {eps} (pixel values in [0, 1]), step "
                       f"{_pixels(attack.get('train_step'))}, {attack.get('train_steps', '–')} steps, random start",
                "fgsm_rs": f"fgsm_rs — one FGSM step of {_pixels(attack.get('fgsm_step'))} from a uniform random "
                           f"start in the ε = {eps} ball (“fast” adversarial training)" + self._guard_text(attack),
                "trades": f"trades — TRADES with β = {attack.get('trades_beta', '–')}, its inner maximisation PGD on "
                          f"the KL term at ε = {eps}, {attack.get('train_steps', '–')} steps",
            }
            used = [robust[t] for t in trainers if t in robust]
            aa = ""
            if attack.get("autoattack"):
                from ..attacks import AUTOATTACK_STANDARD as cfg  # torch: only where AutoAttack ran

                aa = (f" AutoAttack's standard version at the same ε is reported as well: APGD-CE and APGD-T "
                      f"({cfg['apgd_ce']['steps']} iterations each, APGD-T on every wrong class as target), FAB-T "
                      f"({cfg['fab_t']['steps']} iterations) and Square "
                      f"({cfg['square']['queries']:,} queries), one restart each, through torchattacks"
                      + (f", on {attack['autoattack_n']} fixed test images" if attack.get("autoattack_n") else "")
                      + ".")
            blocks.append(_p(
                ("Robust trainer(s): " + "; ".join(used) + ". " if used else "")
                + f"Robust accuracy is measured with PGD-{attack.get('eval_steps', '–')} (step "
                f"{_pixels(attack.get('eval_step'))}, {_restarts(attack.get('eval_restarts'))}) at ε = {eps}, model "
                "in eval mode, on " + (f"{attack['eval_n']} fixed test images (the same random draw for every model; "
                                       "clean accuracy is on all test images)" if attack.get("eval_n")
                                       else "all test images") + "; an image counts as robust only if every iterate "
                "of every restart leaves it correctly classified (the worst case, not the last iterate)." + aa))
        else:
            blocks.append(_p("The robust trainer is PGD adversarial training; robust accuracy is PGD accuracy at the "
                             "training ε with a stronger attack than in training (see params.yaml, section attack)."))
        blocks.append(_p("Error bars, bands and table intervals are 95 % t-intervals over seeds; intervals of an "
                         "accuracy are clipped to [0, 100] %. Accuracies are in percent; “pp” = percentage points."))
        blocks.append(_p(f"Paper studied: {PAPER['title']}."))
        inputs = []
        for what, path in self.inputs:
            href = self.href(path) if path is not None else None
            inputs.append({"text": f"{what}: " + (str(path) if path is not None else "not given")
                           + ("" if path is None or Path(path).exists() else " (missing)"), "href": href})
        blocks.append({"type": "links", "items": inputs, "title": "Inputs"})
        return {"id": "overview", "title": "What was run", "blocks": blocks}

    def _guard_text(self, attack: dict) -> str:
        """The FGSM-RS guard's settings and how many runs it stopped (from the curves)."""
        g = attack.get("fgsm_guard") or {}
        if not g.get("enabled"):
            return ", without a guard against catastrophic overfitting"
        text = (f", guarded against catastrophic overfitting as Wong et al. do (after every epoch PGD-{g.get('steps')} "
                f"on {g.get('batch')} training images; a fall of more than {g.get('drop')} below the best epoch "
                f"restores that epoch's weights and stops training)")
        c = self.curves_all if self.curves_all is not None else self.curves
        if c is None or "guard_pgd_acc" not in c:
            return text
        runs = c[c["trainer"] == "fgsm_rs"].groupby([k for k in NAMES if k != "trainer" and k in c])
        stopped = [name for name, g in runs
                   if "guard_stopped" in g and g["guard_stopped"].fillna(False).astype(bool).any()]
        return text + f"; it stopped {len(stopped)} of {runs.ngroups} FGSM-RS runs early"

    # ------------------------------------------------------------------ deduplication

    def section_dedup(self) -> dict:
        blocks = []
        if self.dedup is None:
            return {"id": "dedup", "title": "Duplicates in the dataset", "blocks": [self.unavailable("deduplication")]}
        d = self.dedup
        if not d:
            blocks.append(self.unavailable("deduplication summary"))
        facts = [("training images before deduplication", d.get("n_train_before")),
                 ("training images after deduplication", d.get("n_train_after")),
                 ("test images with a duplicate in the training set (leaked)", d.get("n_leaked_test")),
                 ("duplicate pairs whose labels disagree (conflicts)", d.get("n_conflicts"))]
        facts = [[k, v] for k, v in facts if v is not None]
        dd = self.params.get("dedup", {})
        if dd:
            blocks.append(_p(f"Exact duplicates (file and pixel checksums) and near duplicates ({dd.get('hash', '–')} "
                             f"hash, {dd.get('hash_size', '–')}×{dd.get('hash_size', '–')} bits, Hamming distance ≤ "
                             f"{dd.get('threshold', '–')}" + (", flips and 90° rotations included" if dd.get("dihedral")
                                                              else "") + ") were searched within and across splits."
                             + (f" Pairs that touch a plain image (grey-level standard deviation below "
                                f"{dd['flat_std']:g}) are counted as kind flat and never removed: a plain image's "
                                f"hash holds no picture." if dd.get("flat_std") else "")
                             + _aligned_sentence(dd, d)))
        else:
            blocks.append(_p("Exact duplicates (checksums) and near duplicates (perceptual hashes) were searched "
                             "within and across splits."))
        if facts:
            blocks.append(_table(["count", "value"], facts, caption="Deduplication"))
        by_kind = d.get("pairs_by_kind") if isinstance(d.get("pairs_by_kind"), dict) else {}
        by_scope = d.get("pairs_by_scope") if isinstance(d.get("pairs_by_scope"), dict) else {}
        if by_kind or by_scope:
            blocks.append(_table(["group", "pairs"], [[f"kind: {k}", v] for k, v in by_kind.items()]
                                 + [[f"scope: {k}", v] for k, v in by_scope.items()], caption="Duplicate pairs"))
            blocks.append(self.figure("dedup_pairs", "Duplicate pairs by kind and scope",
                                      "Number of duplicate pairs found, by kind of match and by split scope.",
                                      figs.dedup_counts, by_kind, by_scope))
        else:
            blocks.append(_note("Not available: pair counts by kind and scope."))
        if self.dedup_per_class is not None:
            pc = self.dedup_per_class
            names = figs._class_names([str(c) for c in pc["class"]], self.classes)
            cols = [c for c in ("train_before", "train_after", "removed") if c in pc]
            blocks.append(_table(["class", *cols], [[names.get(str(r["class"]), r["class"]), *[r[c] for c in cols]]
                                                    for _, r in pc.iterrows()], caption="Training images per class"))
            blocks.append(self.figure("dedup_per_class", "Training images removed per class",
                                      "Training images dropped as duplicates, per class (count).",
                                      figs.dedup_per_class, pc, self.classes))
        else:
            blocks.append(_note("Not available: per-class deduplication counts (per_class.csv)."))
        per_kind = int(self.params.get("report", section_defaults("report"))["gallery_pairs"])
        if self.pairs is not None and self.images is not None and per_kind > 0 and len(self.pairs):
            pairs = self.pairs[(self.pairs["a"] < len(self.images)) & (self.pairs["b"] < len(self.images))
                               & (self.pairs["a"] >= 0) & (self.pairs["b"] >= 0)]
            if len(pairs):
                blocks.append(self.figure("dedup_gallery", "Duplicate pairs",
                                          f"Up to {per_kind} pairs per kind, spread over the distance range "
                                          "(image ids; d = distance in bits for near duplicates).",
                                          figs.dedup_gallery, self.images, pairs, per_kind))
        elif per_kind > 0:
            blocks.append(_note("Not available: the pair gallery needs pairs.parquet and the prepared images."))
        return {"id": "dedup", "title": "Duplicates in the dataset", "blocks": blocks}

    # ------------------------------------------------------------------ accuracy

    def section_accuracy(self) -> dict:
        if self.summary is None:
            return {"id": "accuracy", "title": "Accuracy vs D-rate",
                    "blocks": [self.unavailable("model summary")]}
        s = _with_shared_zero(self.summary)
        blocks = [_p("Clean and PGD accuracy of every trained model, by trainer and duplication scheme. Lines are "
                     "means over seeds, bands 95 % t-intervals over seeds (as in the tables). D-rate 0 is the same "
                     "training set for every scheme.")]
        blocks.append(self.figure("accuracy_vs_rate", "Accuracy vs D-rate",
                                  "Test accuracy (%) vs D-rate r (% added copies); columns: trainer; rows: clean and "
                                  "PGD accuracy; colour/marker: duplication scheme; bands: 95 % CI over seeds.",
                                  figs.accuracy_vs_rate, s))
        rows = []
        metrics = [m for m in ("clean_acc", "robust_acc", "autoattack_acc", "clean_acc_no_leak")
                   if m in s and s[m].notna().any()]
        for (trainer, scheme, rate), g in s.groupby(["trainer", "scheme", "rate"], sort=True):
            row = [trainer, scheme, _rate_str(rate)]
            for m in metrics:
                vals = g.groupby("seed")[m].mean().dropna().to_numpy(float)
                row.append(_fmt_ci(*stats.bounded(t_interval(vals)), unit="") if len(vals) else "–")
            row.append(g["seed"].nunique())
            for extra in ("n_train", "steps", "train_seconds"):
                row.append(f"{g[extra].mean():.0f}" if extra in g and g[extra].notna().any() else "–")
            fav = g["copies_share_favoured"] if "copies_share_favoured" in g else None
            row.append(f"{100 * fav.mean():.1f}" if fav is not None and rate > 0 and fav.notna().any() else "–")
            rows.append(row)
        names = {"clean_acc": "clean %", "robust_acc": "PGD %", "autoattack_acc": "AutoAttack %",
                 "clean_acc_no_leak": "clean, no leaked test %"}
        blocks.append(_table(["trainer", "scheme", "D-rate", *[names[m] for m in metrics], "seeds", "train size",
                              "steps", "train s", "copies to favoured classes %"], rows,
                             caption="Mean [95 % t-interval] over seeds; train size, steps and seconds are means"))
        return {"id": "accuracy", "title": "Accuracy vs D-rate", "blocks": blocks}

    def section_budgets(self) -> dict:
        title = "Equal epochs vs equal steps"
        s = self.summary_all
        if s is None:
            return {"id": "budgets", "title": title, "blocks": [self.unavailable("model summary")]}
        budgets = list(pd.unique(s["budget"].astype(str))) if "budget" in s else []
        if len(budgets) < 2:
            return {"id": "budgets", "title": title, "blocks": [_note(
                "Only one training budget was run" + (f" ({budgets[0]})" if budgets else "") + ". Set "
                "grid.budgets: [epochs, steps] in params.yaml to see whether duplicates change accuracy by what "
                "they show the model or by the extra optimizer steps they bring.")]}
        blocks = [_p("With the additive protocol a variant at D-rate r has (1 + r) times the images, so at equal "
                     "epochs it also gets (1 + r) times the optimizer steps. Training every variant for the same "
                     "number of steps separates the two: a change that remains at equal steps comes from the "
                     "duplicates themselves, a change that disappears came from the extra compute.")]
        if "same_run_as" in s and s["same_run_as"].fillna("").astype(str).ne("").any():
            blocks.append(_p("At D-rate 0 the two budgets are one run (the same images, optimizer steps and seed): "
                             "it was trained and evaluated once, under equal epochs, and is shown under both."))
        s = _with_shared_zero(s)
        blocks.append(self.figure("budgets", title,
                                  "Test accuracy (%) vs D-rate r (% added copies) under equal epochs and equal "
                                  "optimizer steps; columns: trainer; rows: clean and PGD accuracy; style: scheme; "
                                  "bands: 95 % CI over seeds.", figs.budget_comparison, s))
        rows = []
        top = max(s["rate"])
        for trainer in figs._order(s["trainer"], figs.TRAINERS):
            for scheme in figs._order(s.loc[s["rate"] > 0, "scheme"], figs.SCHEMES):
                for metric, name in (("clean_acc", "clean"), ("robust_acc", "PGD")):
                    row = [trainer, scheme, name, _rate_str(top)]
                    for b in allowed("budget"):
                        f = s[s["budget"].astype(str) == b]
                        row.append(_diff_text(_diff(f, metric, trainer, scheme, top)))
                    rows.append(row)
        blocks.append(_table(["trainer", "scheme", "accuracy", "D-rate",
                              *(f"change vs D-rate 0, equal {b}" for b in allowed("budget"))], rows,
                             caption="Mean accuracy at D-rate 0 → at the highest D-rate, and the change in percentage "
                                     "points with its 95 % t-interval"))
        return {"id": "budgets", "title": title, "blocks": blocks}

    def section_per_class(self) -> dict:
        if self.per_class is None:
            return {"id": "per-class", "title": "Per-class accuracy",
                    "blocks": [self.unavailable("per-class accuracy")]}
        favoured = self.params.get("variants", {}).get("biased", {}).get("favoured_classes", [])
        blocks = [_p("Change of each class's accuracy relative to the same trainer at D-rate 0 (percentage points, "
                     "mean over seeds). Class bias is the mechanism the paper proposes: under biased duplication the "
                     "favoured classes (marked *) should gain and the others lose.")]
        blocks.append(self.figure("per_class", "Per-class accuracy change",
                                  "Per-class accuracy minus the class's accuracy at D-rate 0 (pp); columns: scheme, "
                                  "x: D-rate (%); * = favoured class of the biased scheme.",
                                  figs.per_class_heatmap, self.per_class, self.classes, favoured))
        return {"id": "per-class", "title": "Per-class accuracy", "blocks": blocks}

    def section_convergence(self) -> dict:
        if self.curves is None:
            return {"id": "convergence", "title": "Convergence", "blocks": [self.unavailable("training curves")]}
        blocks = [_p("Training loss per optimizer step (equal compute) and training accuracy per epoch (equal passes; "
                     "with the additive protocol an epoch over a larger variant has more steps). Bands: 95 % CI over "
                     "seeds; long runs are averaged into step bins.")]
        curves = _with_shared_zero(self.curves)
        blocks.append(self.figure("convergence_loss", "Training loss vs optimizer steps",
                                  "Training loss (cross-entropy) vs optimizer steps; colour: D-rate (%).",
                                  figs.convergence, curves, "step", "loss"))
        if "epoch" in curves and "train_acc" in curves and curves["train_acc"].notna().any():
            blocks.append(self.figure("convergence_acc", "Training accuracy vs epoch",
                                      "Training accuracy (%) at the end of each epoch; colour: D-rate (%).",
                                      figs.convergence, curves, "epoch", "train_acc"))
        return {"id": "convergence", "title": "Convergence", "blocks": blocks}

    def section_leakage(self) -> dict:
        blocks = []
        n_leak = (self.dedup or {}).get("n_leaked_test")
        if n_leak is not None:
            blocks.append(_p(f"{n_leak} test images have an exact or near duplicate in the training set. Clean "
                             "accuracy is reported on the whole test set and without those images."))
        s = self.summary
        if s is None or "clean_acc_no_leak" not in s or s["clean_acc_no_leak"].isna().all():
            blocks.append(_note("Not available: no accuracy without leaked test images "
                                + ("(model summary missing)." if s is None else "(column clean_acc_no_leak empty).")))
            return {"id": "leakage", "title": "Train/test leakage", "blocks": blocks}
        s = _with_shared_zero(s)
        blocks.append(self.figure("leakage", "Clean accuracy with and without leaked test images",
                                  "Clean test accuracy (%) on all test images and on the test set without images "
                                  "that have a duplicate in training; bands: 95 % CI over seeds.",
                                  figs.leak_effect, s))
        once = _each_model_once(self.summary)
        gain = once.assign(gain=once["clean_acc"] - once["clean_acc_no_leak"]).dropna(subset=["gain"])
        rows = []
        for trainer, g in gain.groupby("trainer"):
            # models of one seed share their test images and initialisation: one value per seed
            per_seed = g.groupby("seed")["gain"].mean().to_numpy(float)
            rows.append([trainer, _fmt_ci(*t_interval(per_seed), unit=" pp"), len(g), len(per_seed)])
        blocks.append(_table(["trainer", "all − without leaked (mean [95 % CI] over seeds)", "models", "seeds"], rows,
                             caption="Accuracy gained from leaked test images (each model counted once; the mean "
                                     "over a seed's models is one value)"))
        return {"id": "leakage", "title": "Train/test leakage", "blocks": blocks}

    # ------------------------------------------------------------------ Gaussian

    def section_gaussian(self) -> dict:
        title = "The 2-D Gaussian study"
        if self.gauss is None:
            return {"id": "gaussian", "title": title, "blocks": [self.unavailable("Gaussian study")]}
        meta = self.gauss.get("meta", {})
        st = meta.get("settings", {}) or dict(self.params.get("gaussian", {}))
        seeds = st.get("seeds")
        n_seeds = len(seeds) if isinstance(seeds, list) else seeds
        bayes = self.gauss["bayes_acc"]
        blocks = [_p(
            _sentences(_said("gauss_setup"))
            + f" Here the same distributions, {st.get('n_per_class', '–')} training samples per class, SVM with RBF "
            f"kernel (C = {st.get('svm_c', '–')}, gamma = 'scale'). D-rate r = added copies / 2·n_per_class. "
            f"Uniform: copies drawn uniformly from all training samples; biased: exactly a share "
            f"{st.get('favoured_share', '–')} of the copies from class +1 (rounded), as in the image variants. "
            + _sentences(_said("gauss_weights"), _said("gauss_label"))
            + f" Rerun over {n_seeds} seeds, each evaluated on {st.get('test_samples', '–')} independent test "
            "points; the model without duplicates uses the same seed's training data and test points, so changes are "
            "paired."),
            _p(f"Bayes-optimal accuracy Φ(Δ/2) = {bayes:.4f} (Δ = Mahalanobis distance between the means = "
               f"{2 * stats.norm_ppf(bayes):.4f}). No classifier exceeds it in expectation; the paper's "
               f"{FIGURES['gauss_biased_40_without'].value} does, because of how it is measured. "
               + _sentences(_said("gauss_train_acc")))]
        gs = self.gauss["summary"]
        blocks.append(self.figure("gaussian_accuracy", "Gaussian study: accuracy vs D-rate",
                                  "Top: accuracy (%) per class and overall, with duplicates (solid, 95 % t-interval "
                                  "bands) and without (dashed); dotted: Bayes-optimal. Bottom: change vs no duplicates "
                                  "(pp, paired by seed).",
                                  figs.gaussian_accuracy, gs, bayes))
        blocks.append(self.figure("gaussian_d_ratio", "Gaussian study: D-ratio +1",
                                  "Share of the added copies that come from class +1 (%), mean and 95 % CI over seeds.",
                                  figs.gaussian_d_ratio, gs, st.get("favoured_share")))
        if self.gauss.get("grids"):
            grids = self.gauss["grids"]
            blocks.append(self.figure("gaussian_boundaries", "Gaussian study: decision boundaries",
                                      f"Seed {grids.get('seed', 0)}: training points, copied points (circle size = "
                                      "number of copies) and the SVM boundary without and with duplicates; dotted: "
                                      "Bayes-optimal boundary. Axes in feature units.",
                                      figs.gaussian_boundaries, grids, meta.get("bayes_boundary")))
        rows = []
        piv = gs.pivot_table(index=["scheme", "rate"], columns="metric", values=["mean", "ci_low", "ci_high"])
        for (scheme, rate) in piv.index:
            def cell(metric, scale=100.0, unit="", scheme=scheme, rate=rate):
                try:
                    return _fmt_ci(scale * piv.loc[(scheme, rate), ("mean", metric)],
                                   scale * piv.loc[(scheme, rate), ("ci_low", metric)],
                                   scale * piv.loc[(scheme, rate), ("ci_high", metric)], unit=unit)
                except KeyError:
                    return "–"
            rows.append([scheme, _rate_str(rate), cell("acc_neg"), cell("acc_pos"), cell("acc_all"),
                         cell("base_acc_all"), cell("delta_acc_all"), cell("d_ratio_pos")])
        blocks.append(_table(["scheme", "D-rate", "class −1 %", "class +1 %", "overall %", "overall, no duplicates %",
                              "overall change pp", "D-ratio +1 %"], rows,
                             caption="Gaussian study: mean [95 % t-interval] over seeds"))
        return {"id": "gaussian", "title": title, "blocks": blocks}

    # ------------------------------------------------------------------ provenance

    def section_provenance(self, provenance: dict, seconds: float) -> dict:
        rows = _flatten({k: v for k, v in provenance.items() if k != "stage_times"}) if provenance else []
        source = (self.meta or {}).get("source")
        rows = _flatten({"dataset_source": source}) + rows if source else rows
        blocks = []
        if rows:
            blocks.append(_table(["key", "value"], [[k, v] for k, v in rows], caption="Provenance", css="provenance"))
        else:
            blocks.append(_note("Not available: no provenance was given."))
        stage_times = (provenance or {}).get("stage_times") or []
        if stage_times:
            order = {name: i for i, name in enumerate(STAGE_ORDER)}
            rows = [[t["stage"], t["jobs"], f"{t['total_s']:.1f}", f"{t['mean_s']:.2f}", f"{t['max_s']:.1f}"]
                    for t in sorted(stage_times, key=lambda t: order.get(t["stage"], len(order)))]
            blocks.append(_table(["stage", "jobs", "total s", "mean s per job", "max s"], rows,
                                 caption="Wall time per stage (latest run of each job, from logs/stage_times.jsonl; "
                                         "jobs ran in parallel, so totals are compute time, not elapsed time)"))
        else:
            blocks.append(_note("Not available: no stage times were recorded (logs/stage_times.jsonl)."))
        blocks.append(_p(f"Report built in {seconds:.1f} s."))
        if self.missing:
            blocks.append(_table(["input", "status"], [[k, v] for k, v in sorted(self.missing.items())],
                                 caption="Inputs that were not available"))
        return {"id": "provenance", "title": "Provenance", "blocks": blocks}


def _recipe_text(train: dict) -> str:
    """The training recipe in a few words (train.recipe; onecycle when absent)."""
    if train.get("recipe") == "airbench":
        return (f"airbench94's recipe (Nesterov SGD at lr {train.get('airbench', {}).get('lr', '–')} per 1024 "
                "examples, triangular schedule, lookahead)")
    return f"SGD lr {train.get('lr', '–')}, one-cycle schedule"


def _aligned_sentence(dd: dict, summary: dict) -> str:
    """What the alignment check did, or why it did not run."""
    if not dd.get("aligned"):
        return ""
    if summary.get("aligned_skipped"):
        return f" Alignment of shifted, re-cropped and recoloured copies was skipped: {summary['aligned_skipped']}."
    return (f" Shifted, re-cropped, rescaled, recoloured and mirrored copies were found by aligning each candidate "
            f"pair (its fine detail correlating at ≥ {dd.get('aligned_threshold', '–')} along both axes after "
            f"alignment: kind aligned); hash pairs the alignment rejects are kind unaligned and never removed.")
