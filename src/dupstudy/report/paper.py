"""The paper's facts in one table: its published figures and what its public notebooks did, each with its source.

The report formats its prose from this module, so each number is written here once. Notebook facts were read
in the versions pinned by NOTEBOOK_COMMITS; cells are counted from 1 in file order, markdown-like comment cells
included. Where a figure sits in the paper (figure or table, page) could not be checked, it says NOT_VERIFIED
rather than a guess.
"""

from __future__ import annotations

from dataclasses import dataclass

REPO = "alireza1375/Duplication_CIFAR"
CIFAR_NB = "Code/repititive-final.ipynb"  # the repository's spelling
GAUSS_NB = "Code/Gaussian-final.ipynb"
# the versions read; cell positions refer to them
NOTEBOOK_COMMITS = {CIFAR_NB: "102d195be62fdbc5a75f317d23997f8a6b25fdd9",
                    GAUSS_NB: "f201073abba1843b4a76577657aa8650c9214b70"}
NOT_VERIFIED = "not verified here"
STUDY_NOTES = "the project's design notes"


def noted(figure: str) -> str:
    """Where the study notes place a published figure. The paper's full text was not at hand to check it, nor the
    page, so it stays marked unverified."""
    return f"{figure}, as {STUDY_NOTES} place it; figure and page {NOT_VERIFIED}"


TITLE = ("A. Aghabagherloo, A. Abadi, S. Sarkar, V. A. Dasu, B. Preneel, \"Impact of Data Duplication on Deep "
         "Neural Network-Based Image Classifiers: Robust vs. Standard Models\", arXiv 2504.00638 (v2, 2025)")
URL = "https://arxiv.org/abs/2504.00638"


@dataclass(frozen=True)
class Source:
    """One place in a notebook: the cell (1-based position) and the line or printed output that shows the fact
    (verbatim; “…” marks an elision, and a statement spread over several lines is quoted on one)."""

    notebook: str
    cell: int
    quote: str

    @property
    def url(self) -> str:
        return f"https://github.com/{REPO}/blob/{NOTEBOOK_COMMITS[self.notebook]}/{self.notebook}"


@dataclass(frozen=True)
class Fact:
    """A statement about the paper's code, with the cells that show it."""

    key: str
    text: str
    sources: tuple[Source, ...]

    @property
    def cite(self) -> str:
        """Short inline source, e.g. "notebook Code/repititive-final.ipynb, cells 3 and 5"."""
        return _cite(self.sources)

    @property
    def evidence(self) -> str:
        return _evidence(self.sources)


@dataclass(frozen=True)
class Figure:
    """A number the report attributes to the paper: where it appears there, and how it compares with the
    notebooks' saved output (check, shown by sources)."""

    key: str
    value: str  # as the paper prints it
    unit: str
    what: str
    where: str = NOT_VERIFIED  # figure or table and page in the paper
    check: str = ""
    sources: tuple[Source, ...] = ()

    @property
    def text(self) -> str:
        return f"{self.value}{self.unit}"

    @property
    def cite(self) -> str:
        return _cite(self.sources)

    @property
    def evidence(self) -> str:
        return _evidence(self.sources)

    def __float__(self) -> float:
        return float(self.value)


@dataclass(frozen=True)
class Reference:
    """A statement about other work, with its citation."""

    key: str
    text: str
    citation: str
    url: str


def _and(items) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _cite(sources: tuple[Source, ...]) -> str:
    parts = []
    for nb in dict.fromkeys(s.notebook for s in sources):
        cells = sorted({s.cell for s in sources if s.notebook == nb})
        parts.append(f"notebook {nb}, " + ("cell " if len(cells) == 1 else "cells ") + _and(map(str, cells)))
    return "; ".join(parts)


def _evidence(sources: tuple[Source, ...]) -> str:
    """The quotes after their cells, "notebook X, cell 3: “…”; cell 5: “…”": what a reader checks against."""
    parts = []
    for nb in dict.fromkeys(s.notebook for s in sources):
        parts.append(f"notebook {nb}, " + "; ".join(f"cell {s.cell}: “{s.quote}”" for s in sources
                                                      if s.notebook == nb))
    return "; ".join(parts)


def _c(cell: int, quote: str) -> Source:
    return Source(CIFAR_NB, cell, quote)


def _g(cell: int, quote: str) -> Source:
    return Source(GAUSS_NB, cell, quote)


# ---------------------------------------------------------------- the notebooks' settings, each written once

CIFAR_TRAIN = 50_000
STD_DIVISOR = 10  # standard training: D-rate p % -> p // 10 whole copies
EPOCHS = 30
BATCH = 128
PGD_EPS, PGD_STEP, PGD_ITERS = 0.5, 0.01, 10
GAUSS_PER_CLASS = 100
GAUSS_WEIGHTS = (0.8, 0.2)  # class +1, class -1
GAUSS_COMMENT = (70, 30)  # the share the biased cell's comment names
GAUSS_LABEL_DIV = {"biased": 4, "balanced": 2}  # printed D-rate = n_duplicates / this


def std_copies(rate: float) -> int:
    """Whole extra copies of the training set the standard-training notebook adds at the paper's D-rate (fraction)."""
    return round(100 * rate) // STD_DIVISOR


def pgd_copies(rate: float) -> int:
    """Distinct training images the PGD notebook copies once at the paper's D-rate (fraction)."""
    return int(CIFAR_TRAIN * rate)


GAUSS_POINTS = 2 * GAUSS_PER_CLASS
GAUSS_40_COPIES = 40 * GAUSS_LABEL_DIV["biased"]  # copies behind the biased cell's printed "40"

FACTS: dict[str, Fact] = {f.key: f for f in [
    Fact("std_copies",
         f"In the standard-training experiment a D-rate of p % adds p // {STD_DIVISOR} whole copies of the "
         f"{CIFAR_TRAIN:,} training images, so its “10 %” already doubles the set and its “30 %” adds "
         f"{std_copies(0.3)} copies of every image, r = {std_copies(0.3)} in our definition",
         (_c(3, "repeat_count = percentage // 10"),
          _c(5, "repetitive_train_dataset = add_repetitive_data(train_dataset, repetition)"))),
    Fact("pgd_copies",
         "In the PGD experiment a D-rate of p % copies p % of the training images once each, drawn without "
         f"replacement, so its D-rate is our r: {pgd_copies(0.3):,} copies at 30 %",
         (_c(7, "n_repeat = int(len(train_data) * ratio)"),
          _c(7, "repetitive_indices = np.random.choice(len(train_data), n_repeat, replace=False)"))),
    Fact("uniform_only",
         "Both CIFAR-10 experiments duplicate without regard to class; the notebook has no class-biased "
         "CIFAR-10 run",
         (_c(3, "repetitive_datasets.append(repetitive_data)"),
          _c(7, "repetitive_indices = np.random.choice(len(train_data), n_repeat, replace=False)"))),
    Fact("test_augmented",
         "The standard-training experiment measures test accuracy on test images passed through the training "
         "transform (random crop and horizontal flip); the PGD experiment's test images are not augmented",
         (_c(5, "transforms.RandomCrop(32, padding=4),"),
          _c(5, "test_dataset = torchvision.datasets.CIFAR10(root='./data', train=False, download=True, "
                "transform=transform)"),
          _c(7, "transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5, 0.5, 0.5), "
                "(0.5, 0.5, 0.5))])"))),
    Fact("shared_optimizer",
         "The standard-training runs share one SGD optimizer (momentum 0.9), created once before the loop over "
         "D-rates: each run resets the weights but starts from the previous run's momentum; the PGD experiment "
         "creates a new model and Adam optimizer for every D-rate",
         (_c(5, "optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)"),
          _c(5, "model.apply(lambda m: m.reset_parameters() if hasattr(m, 'reset_parameters') else None)"),
          _c(7, "optimizer = optim.Adam(model.parameters(), lr=learning_rate)"))),
    Fact("model",
         "Both experiments train a small CNN with two convolutional layers: 16 and 32 channels with dropout 0.5 for "
         "standard training, 32 and 64 channels for PGD training",
         (_c(2, "self.conv1 = nn.Conv2d(3, 16, kernel_size=3, padding=1)"),
          _c(2, "self.conv2 = nn.Conv2d(16, 32, kernel_size=3, padding=1)"),
          _c(2, "self.dropout = nn.Dropout(0.5)"),
          _c(7, "self.conv1 = nn.Conv2d(3, 32, kernel_size=3, stride=1, padding=1)"),
          _c(7, "self.conv2 = nn.Conv2d(32, 64, kernel_size=3, stride=1, padding=1)"))),
    Fact("epochs",
         f"Both experiments train for {EPOCHS} epochs at batch size {BATCH}, one run per D-rate; the PGD "
         f"experiment's heading says 10 epochs, its code and progress bars {EPOCHS}",
         (_c(5, "num_epochs = 30  # Reduce the number of epochs to speed up training"),
          _c(5, "for repetition in repetition_levels:"),
          _c(5, "train_loader = DataLoader(repetitive_train_dataset, batch_size=128, shuffle=True, num_workers=4)"),
          _c(6, "#Adversarial setting (adversarial training with different percentages of repetition (10 epock))"),
          _c(7, "num_epochs = 30"),
          _c(7, "batch_size = 128"),
          _c(7, "Epoch 30/30"))),
    Fact("pgd",
         f"PGD runs on inputs normalised to [-1, 1] with ε = {PGD_EPS:g}, {PGD_ITERS} steps of {PGD_STEP:g} from "
         "the clean image (no random start), and clamps every attacked image to [0, 1], cutting off the lower "
         f"half of the input range; {PGD_ITERS} steps of {PGD_STEP:g} move at most {PGD_ITERS * PGD_STEP:g}, so "
         f"ε = {PGD_EPS:g} never binds",
         (_c(7, "transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))"),
          _c(7, "epsilon = 0.5  # PGD attack strength"),
          _c(7, "def pgd_attack(model, images, labels, epsilon, alpha=0.01, iters=10):"),
          _c(7, "images = torch.clamp(original_images + eta, min=0, max=1).detach()"))),
    Fact("pgd_printed",
         "The PGD experiment's clean test accuracy, one run per D-rate, is not monotonic in the D-rate (0.3937 at "
         "90 %), and its adversarial test accuracy stays within 0.2474–0.2518 at 0, 30 and 60 %",
         (_c(7, "Repetition Ratio: 90%, … Test Acc: 0.3937, Adv Test Acc: 0.2549"),
          _c(7, "Repetition Ratio: 0%, … Test Acc: 0.4116, Adv Test Acc: 0.2503"),
          _c(7, "Repetition Ratio: 30%, … Test Acc: 0.2739, Adv Test Acc: 0.2474"),
          _c(7, "Repetition Ratio: 60%, … Test Acc: 0.2090, Adv Test Acc: 0.2518"))),
    Fact("gauss_setup",
         "The paper's Gaussian notebook draws class −1 from N([0, 0], S) and class +1 from N([1, 1], S) with "
         f"S = [[1, 0.5], [0.5, 1]], {GAUSS_PER_CLASS} training points per class ({GAUSS_POINTS} in all), and "
         "classifies them with SVC(kernel='rbf', gamma='auto')",
         (_g(5, "mean_true = [np.array([0, 0]), np.array([1, 1])]  # Means for classes -1 and +1"),
          _g(5, "cov_true = np.array([[1, 0.5], [0.5, 1]])  # Shared covariance"),
          _g(5, "n_samples_per_class = 100 # Samples per class"),
          _g(5, "svm_with_duplicates = SVC(kernel='rbf', gamma='auto')"))),
    Fact("gauss_weights",
         f"The biased cell draws each copy at random with weight {GAUSS_WEIGHTS[0]:g} for class +1 and "
         f"{GAUSS_WEIGHTS[1]:g} for class −1, {100 * GAUSS_WEIGHTS[0] / sum(GAUSS_WEIGHTS):g} % from class +1 in "
         f"expectation, although its comment says {GAUSS_COMMENT[0]} % / {GAUSS_COMMENT[1]} %; the share it prints "
         "at its D-rate 40 (labelled “from Class -1”, computed for class +1) is 0.81",
         (_g(5, "# Weighted sampling: 70% from class +1, 30% from class -1"),
          _g(5, "weights = np.where(labels == 1, 0.8, 0.2)"),
          _g(5, "count_class_pos_duplicates / (count_class_neg_duplicates + count_class_pos_duplicates)"),
          _g(5, "Ratio of duplicated samples from Class -1 to total duplicated samples: 0.80625"))),
    Fact("gauss_train_acc",
         "Accuracy is measured on the training points the SVM was fitted on (copies included), not on held-out "
         "data, and “overall accuracy” is the mean of the two per-class accuracies",
         (_g(5, "predictions_original = svm_original.predict(data)"),
          _g(5, "predictions_with_duplicates = svm_with_duplicates.predict(data_with_duplicates)"),
          _g(5, "overall_accuracy_original = (accuracy_class_neg_original + accuracy_class_pos_original) / 2"))),
    Fact("gauss_label",
         f"The printed D-rate is n_duplicates / {GAUSS_LABEL_DIV['biased']} in the biased cell, so its “40” is "
         f"{GAUSS_40_COPIES} copies added to the {GAUSS_POINTS} training points "
         f"(r = {GAUSS_40_COPIES / GAUSS_POINTS:g} in our definition), and n_duplicates / "
         f"{GAUSS_LABEL_DIV['balanced']} in the balanced cell",
         (_g(5, "for n_duplicates in range(0, 401, 40):"),
          _g(5, "print(f\"n_duplicates: {n_duplicates/4}\")"),
          _g(3, "print(f\"n_duplicates: {n_duplicates/2}\")"))),
]}

REFERENCES: dict[str, Reference] = {r.key: r for r in [
    Reference("cifar_94", "well-tuned small CIFAR-10 models reach 94 % test accuracy in seconds of training",
              "K. Jordan, “94% on CIFAR-10 in 3.29 Seconds on a Single GPU”, arXiv 2404.00498, abstract",
              "https://arxiv.org/abs/2404.00498"),
]}

_CIFAR = "CIFAR-10 clean test accuracy"
FIGURES: dict[str, Figure] = {f.key: f for f in [
    Figure("standard_0", "70.72", " %", f"{_CIFAR}, standard training, D-rate 0",
           where=noted("Fig. 3"), check="the notebook prints the same number",
           sources=(_c(5, "Training with 0% repetitive data … Test Accuracy: 70.72%"),)),
    Figure("standard_30", "74.12", " %", f"{_CIFAR}, standard training, D-rate 30",
           where=noted("Fig. 3"),
           check="the notebook's saved output prints this number for its 40 % run; for its 30 % run it prints 74.65 %",
           sources=(_c(5, "Training with 40% repetitive data … Test Accuracy: 74.12%"),
                    _c(5, "Training with 30% repetitive data … Test Accuracy: 74.65%"))),
    Figure("standard_60", "75.11", " %", f"{_CIFAR}, standard training, D-rate 60",
           where=noted("Fig. 3"), check="not in the notebook's saved output, which ends at epoch 13 of its 60 % run",
           sources=(_c(5, "Training with 60% repetitive data … Epoch [13/30], Loss: 0.8285"),)),
    Figure("pgd_0", "41.16", " %", f"{_CIFAR}, PGD adversarial training, D-rate 0",
           where=noted("Fig. 4"), check="the notebook prints the same number",
           sources=(_c(7, "Repetition Ratio: 0%, … Test Acc: 0.4116"),)),
    Figure("pgd_30", "27.39", " %", f"{_CIFAR}, PGD adversarial training, D-rate 30",
           where=noted("Fig. 4"), check="the notebook prints the same number",
           sources=(_c(7, "Repetition Ratio: 30%, … Test Acc: 0.2739"),)),
    Figure("pgd_60", "20.90", " %", f"{_CIFAR}, PGD adversarial training, D-rate 60",
           where=noted("Fig. 4"), check="the notebook prints the same number",
           sources=(_c(7, "Repetition Ratio: 60%, … Test Acc: 0.2090"),)),
    Figure("gauss_biased_40_without", "0.76", "", "2-D Gaussians, biased duplication, D-rate 40: overall "
           "accuracy without duplicates", where=noted("Fig. 1 or 2"), check="the notebook prints the same number",
           sources=(_g(5, "n_duplicates: 40.0 … Overall Accuracy (Original): 0.76"),)),
    Figure("gauss_biased_40_with", "0.72", "", "2-D Gaussians, biased duplication, D-rate 40: overall "
           "accuracy with duplicates", where=noted("Fig. 1 or 2"), check="the notebook prints the same number",
           sources=(_g(5, "n_duplicates: 40.0 … Overall Accuracy (With Duplicated Samples): 0.72"),)),
    Figure("gauss_uniform_band", "10", " %", "2-D Gaussians, uniform duplication: the bound on the change of "
           "accuracy", where=noted("Fig. 1 or 2")),
    Figure("gauss_balanced_share", "50", " %", "2-D Gaussians, uniform duplication: the D-ratio +1 at which "
           "duplication helps", where=noted("Fig. 1 or 2")),
    Figure("drop_up_to", "3.2", " %", "largest drop of clean accuracy, CIFAR-100 / ImageNet subsets",
           check="found only in a third-party automatic summary (newx.sg), not in the paper's abstract; the "
                 "public notebooks have no CIFAR-100 or ImageNet run"),
]}

def cite(*keys: str) -> str:
    """One inline source for several facts, their cells merged."""
    return _cite(tuple(s for k in keys for s in FACTS[k].sources))


RATES = (0.0, 0.3, 0.6)  # the paper's CIFAR-10 D-rates quoted in the report, as fractions


def cifar(trainer: str, rate: float) -> Figure:
    """The published CIFAR-10 clean accuracy of trainer ("standard" or "pgd") at the paper's D-rate (fraction)."""
    return FIGURES[f"{trainer}_{round(100 * rate)}"]


def their_duplicates(trainer: str, rate: float) -> str:
    """What the paper's notebook added at its D-rate `rate` (fraction) for trainer, in our terms."""
    if rate == 0:
        return "no duplicates"
    if trainer == "standard":
        n = std_copies(rate)
        return f"{n} extra copies of every image (r = {n}; {FACTS['std_copies'].cite})"
    return f"{pgd_copies(rate):,} images copied once (r = {rate:g}; {FACTS['pgd_copies'].cite})"


# the report's view of the published numbers, keyed by trainer and D-rate
PAPER = {
    "title": TITLE,
    "url": URL,
    "standard": {r: cifar("standard", r).value for r in RATES},
    "pgd": {r: cifar("pgd", r).value for r in RATES},
    "gaussian_biased_40": (FIGURES["gauss_biased_40_without"].value, FIGURES["gauss_biased_40_with"].value),
}
