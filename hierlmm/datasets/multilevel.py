"""Seeded simulators with several grouping factors: crossed and nested designs.

Truth keys follow :mod:`hierlmm.datasets.simulate`; ``"effects"`` is a dict mapping each
grouping factor (as written in the formula) to a DataFrame of realised effects.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from hierlmm.datasets._checks import Seed, count, effects_frame, labels, make_rng, pair, scale
from hierlmm.datasets.simulate import SimulatedData
from hierlmm.spec.schema import INTERCEPT


def simulate_crossed(
    *,
    n_subjects: int = 30,
    n_items: int = 20,
    beta: Sequence[float] = (0.0, 0.5),
    sd_subject: float = 1.0,
    sd_item: float = 0.7,
    sigma: float = 1.0,
    seed: Seed,
) -> SimulatedData:
    """Simulate a fully crossed subjects x items design with random intercepts for both.

    ``y_si = b0 + b1 x_si + u_s + w_i + e_si``, one observation per subject-item cell.

    Parameters
    ----------
    n_subjects, n_items : int
        Numbers of subjects S (``"s01"`` ...) and items I (``"i01"`` ...).
    beta : pair of float
        Fixed intercept and slope of ``x`` (x ~ N(0, 1) per cell).
    sd_subject, sd_item : float
        SDs of the subject and item intercepts.
    sigma : float
        Residual SD (> 0).
    seed : int or numpy.random.Generator

    Returns
    -------
    SimulatedData
        ``data`` columns ``y, x, subject, item`` (S * I rows, subject-major). Extra truth
        keys ``"sd_subject"``, ``"sd_item"``; ``"effects"`` is a dict with DataFrames
        ``"subject"`` (S, 1) and ``"item"`` (I, 1).
    """
    n_subjects = count("n_subjects", n_subjects)
    n_items = count("n_items", n_items)
    b0, b1 = pair("beta", beta)
    sd_subject = scale("sd_subject", sd_subject)
    sd_item = scale("sd_item", sd_item)
    sigma = scale("sigma", sigma, positive=True)
    rng = make_rng(seed)
    u = sd_subject * rng.standard_normal(n_subjects)  # (S,)
    w = sd_item * rng.standard_normal(n_items)  # (I,)
    s_codes = np.repeat(np.arange(n_subjects), n_items)  # (n,)
    i_codes = np.tile(np.arange(n_items), n_subjects)  # (n,)
    x = rng.standard_normal(s_codes.size)
    y = b0 + b1 * x + u[s_codes] + w[i_codes] + sigma * rng.standard_normal(s_codes.size)
    s_level, i_level = labels("s", n_subjects), labels("i", n_items)
    truth = {
        "beta": {INTERCEPT: b0, "x": b1},
        "sigma": sigma,
        "sd_subject": sd_subject,
        "sd_item": sd_item,
        "re_sd": {"subject": {INTERCEPT: sd_subject}, "item": {INTERCEPT: sd_item}},
        "effects": {
            "subject": effects_frame("subject", s_level, u, (INTERCEPT,)),
            "item": effects_frame("item", i_level, w, (INTERCEPT,)),
        },
    }
    data = pd.DataFrame({"y": y, "x": x, "subject": s_level[s_codes], "item": i_level[i_codes]})
    return SimulatedData(data=data, truth=truth, formula="y ~ x + (1 | subject) + (1 | item)")


def simulate_nested(
    *,
    n_schools: int = 30,
    classes_per_school: int = 4,
    students_per_class: int = 10,
    beta: Sequence[float] = (50.0, 2.0),
    sd_school: float = 5.0,
    sd_class: float = 3.0,
    sigma: float = 8.0,
    seed: Seed,
) -> SimulatedData:
    """Simulate students in classes in schools: ``score = b0 + b1 x + u_s + v_sc + e``.

    Class labels repeat across schools (``"c1"`` .. ``"c4"`` in every school), so the
    class factor must be written ``school:class``; ``(1 | class)`` alone would wrongly
    pool class ``c1`` of every school.

    Parameters
    ----------
    n_schools : int
        Number of schools S (``"sch01"`` ...).
    classes_per_school : int
        Classes C in each school.
    students_per_class : int
        Students K in each class.
    beta : pair of float
        Fixed intercept and slope of ``x`` (x ~ N(0, 1) per student).
    sd_school, sd_class : float
        SDs of the school and class-within-school intercepts.
    sigma : float
        Residual SD (> 0).
    seed : int or numpy.random.Generator

    Returns
    -------
    SimulatedData
        ``data`` columns ``score, x, school, class`` (S * C * K rows). Extra truth keys
        ``"sd_school"``, ``"sd_class"``; ``"effects"`` is a dict with DataFrames
        ``"school"`` (S, 1) and ``"school:class"`` (S * C, 1, labels ``"sch01:c1"``).
    """
    n_schools = count("n_schools", n_schools)
    n_classes = count("classes_per_school", classes_per_school)
    n_students = count("students_per_class", students_per_class)
    b0, b1 = pair("beta", beta)
    sd_school = scale("sd_school", sd_school)
    sd_class = scale("sd_class", sd_class)
    sigma = scale("sigma", sigma, positive=True)
    rng = make_rng(seed)
    u = sd_school * rng.standard_normal(n_schools)  # (S,)
    v = sd_class * rng.standard_normal(n_schools * n_classes)  # (S * C,)
    class_codes = np.repeat(np.arange(n_schools * n_classes), n_students)  # (n,)
    school_codes = class_codes // n_classes  # (n,)
    x = rng.standard_normal(class_codes.size)
    noise = sigma * rng.standard_normal(class_codes.size)
    score = b0 + b1 * x + u[school_codes] + v[class_codes] + noise
    school_level, class_level = labels("sch", n_schools), labels("c", n_classes)
    nested_level = np.array(
        [f"{s}:{c}" for s in school_level for c in class_level]
    )  # (S * C,), school-major like class_codes
    truth = {
        "beta": {INTERCEPT: b0, "x": b1},
        "sigma": sigma,
        "sd_school": sd_school,
        "sd_class": sd_class,
        "re_sd": {"school": {INTERCEPT: sd_school}, "school:class": {INTERCEPT: sd_class}},
        "effects": {
            "school": effects_frame("school", school_level, u, (INTERCEPT,)),
            "school:class": effects_frame("school:class", nested_level, v, (INTERCEPT,)),
        },
    }
    data = pd.DataFrame({
        "score": score,
        "x": x,
        "school": school_level[school_codes],
        "class": class_level[class_codes % n_classes],
    })
    formula = "score ~ x + (1 | school) + (1 | school:class)"
    return SimulatedData(data=data, truth=truth, formula=formula)
