"""Area and accuracy from a map and its accuracy-assessment sample (stratified estimator).

Activity data from a classified map are biased by classification errors. With a
stratified random sample of reference labels, where the map classes are the
strata, the error matrix of sample counts ``n_ij`` (row i = map class, column j =
reference class) and the mapped area ``A_i`` of each class give unbiased
estimates of each reference class's area with a standard error, and the user's,
producer's and overall accuracies with theirs (Olofsson et al. 2013, 2014):

* ``W_i = A_i / A``, ``p_ij = W_i n_ij / n_i.`` (estimated area proportions);
* area ``A_j = A sum_i p_ij``, with
  ``SE(p_.j) = sqrt(sum_i W_i^2 (n_ij/n_i.)(1 - n_ij/n_i.)/(n_i. - 1))`` (2014 Eq. 10);
* user's accuracy ``U_i = n_ii / n_i.``, variance ``U_i (1 - U_i) / (n_i. - 1)`` (Eq. 6);
* overall accuracy ``O = sum_j p_jj``, variance ``sum_i W_i^2 U_i (1 - U_i) / (n_i. - 1)`` (Eq. 5);
* producer's accuracy ``P_j = p_jj / p_.j`` with the variance of Eq. 7.

Confidence intervals are estimate ± z SE (normal approximation, as in the paper).

The strata need not be the map classes: with extra strata (e.g. a buffer of
stable forest around mapped loss, the usual design for rare change), the counts
matrix has one row per stratum and ``stratum_map_class`` says which map class
each stratum belongs to. Every estimate is then the stratified ratio estimator
of Stehman (2014), which reduces to the formulas above when strata are the map
classes (tested on the Olofsson et al. 2014 example).

References
----------
Olofsson, P., Foody, G.M., Stehman, S.V., Woodcock, C.E. (2013). Making better use
of accuracy data in land change studies. Remote Sens. Environ. 129, 122-131.
Olofsson, P., Foody, G.M., Herold, M., Stehman, S.V., Woodcock, C.E., Wulder, M.A.
(2014). Good practices for estimating area and assessing accuracy of land change.
Remote Sens. Environ. 148, 42-57 (Eqs. 4-11; worked example §5, Tables 8-9).
Stehman, S.V. (2014). Estimating area and map accuracy for stratified random
sampling when the strata are different from the map classes. Int. J. Remote
Sens. 35, 4923-4939.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "AreaEstimate",
    "stratified_area_estimate",
    "annual_loss_estimates",
    "loss_area_estimate",
    "LOSS_CLASSES",
    "POOLING_GRID",
    "pooled_proportions",
    "pooled_loss_estimates",
]


@dataclass(frozen=True)
class AreaEstimate:
    """Stratified estimates of area and accuracy (arrays over classes).

    Attributes
    ----------
    classes : tuple of str
    area, area_se : ndarray
        Estimated area of each reference class and its standard error (units of
        ``mapped_area``).
    area_ci : ndarray, shape (n_classes, 2)
        Confidence interval of the area (a property: estimate ± z SE at ``confidence``).
    users_accuracy, users_accuracy_se, producers_accuracy, producers_accuracy_se : ndarray
    overall_accuracy, overall_accuracy_se : float
    proportions : ndarray, shape (n_classes, n_classes)
        Estimated area proportions ``p_ij`` (the error matrix in area terms).
    confidence : float
    strata : tuple of str
        Names of the sample strata (rows of ``counts``).
    counts : ndarray, shape (n_strata, n_classes)
        The sample counts the estimates come from (sampling-effort planning
        re-estimates from them).
    """

    classes: tuple
    area: np.ndarray
    area_se: np.ndarray
    users_accuracy: np.ndarray
    users_accuracy_se: np.ndarray
    producers_accuracy: np.ndarray
    producers_accuracy_se: np.ndarray
    overall_accuracy: float
    overall_accuracy_se: float
    proportions: np.ndarray
    mapped_area: np.ndarray
    confidence: float
    strata: tuple = ()
    counts: np.ndarray | None = None  # the sample counts n_hj the estimates come from

    @property
    def area_ci(self) -> np.ndarray:
        """``area ± z area_se``, z the normal quantile of the two-sided ``confidence``."""
        # scipy.special (what scipy.stats.norm.ppf calls) only when an interval is asked for:
        # reading and checking a run's data needs the estimates, not their intervals.
        from scipy.special import ndtri

        z = ndtri(0.5 + self.confidence / 2)
        return np.column_stack([self.area - z * self.area_se, self.area + z * self.area_se])

    def mapped(self, stratum: str) -> float:
        """Mapped area of a stratum, by name."""
        return float(self.mapped_area[self.strata.index(stratum)])

    def to_dataset(self):
        """The estimates as an xarray Dataset with dimension ``class``."""
        import xarray as xr

        return xr.Dataset(
            {
                "mapped_area": ("class", self.mapped_area),
                "area": ("class", self.area),
                "area_se": ("class", self.area_se),
                "area_ci_low": ("class", self.area_ci[:, 0]),
                "area_ci_high": ("class", self.area_ci[:, 1]),
                "users_accuracy": ("class", self.users_accuracy),
                "users_accuracy_se": ("class", self.users_accuracy_se),
                "producers_accuracy": ("class", self.producers_accuracy),
                "producers_accuracy_se": ("class", self.producers_accuracy_se),
            },
            coords={"class": list(self.classes)},
            attrs={
                "overall_accuracy": self.overall_accuracy,
                "overall_accuracy_se": self.overall_accuracy_se,
                "confidence": self.confidence,
            },
        )


def _ratio(n: np.ndarray, weight: np.ndarray, y: np.ndarray, x: np.ndarray):
    """Stratified ratio estimator ``R = sum_h N_h ybar_h / sum_h N_h xbar_h`` and its SE.

    ``n`` (h, k) holds the sample counts of each (stratum, reference class); ``y`` and
    ``x`` (h, k) the value of the unit indicators for a unit of that cell (Stehman
    2014, Eqs. 24-28, without the finite-population correction).
    """
    n_h = n.sum(axis=1)
    ybar = (n * y).sum(axis=1) / n_h
    xbar = (n * x).sum(axis=1) / n_h
    dy, dx = y - ybar[:, None], x - xbar[:, None]
    s2y = (n * dy**2).sum(axis=1) / (n_h - 1)
    s2x = (n * dx**2).sum(axis=1) / (n_h - 1)
    sxy = (n * dy * dx).sum(axis=1) / (n_h - 1)
    big_x = np.sum(weight * xbar)
    with np.errstate(divide="ignore", invalid="ignore"):  # a class absent from the sample
        r = np.sum(weight * ybar) / big_x
        var = np.sum(weight**2 * (s2y + r**2 * s2x - 2 * r * sxy) / n_h) / big_x**2
    # var is a sum of variances of (y - r x): a negative value is rounding below 0
    return r, np.sqrt(np.maximum(var, 0.0))


def stratified_area_estimate(
    counts,
    mapped_area,
    class_names=None,
    confidence: float = 0.95,
    stratum_map_class=None,
    stratum_names=None,
) -> AreaEstimate:
    """Stratified estimator of class areas and accuracies (Olofsson et al. 2014; Stehman 2014).

    Parameters
    ----------
    counts : array_like, shape (h, k), h >= k
        Sample counts ``n_hj``: one row per stratum, one column per reference class.
        When the strata are the map classes (h = k), rows and columns are in the
        same class order.
    mapped_area : array_like, shape (h,)
        Mapped area of each stratum (ha, or pixel count x pixel area).
    class_names : sequence of str, optional
        Names of the k classes (default ``"0".."k-1"``).
    confidence : float
        Level of the confidence intervals.
    stratum_map_class : sequence of int, optional
        Map class (column index) of each stratum. Defaults to the identity when
        h = k; with other strata and no mapping, accuracies are NaN.
    stratum_names : sequence of str, optional
        Names of the h strata (default: the class names when h = k).

    Returns
    -------
    AreaEstimate

    Raises
    ------
    ValueError
        Mismatched inputs, negative or non-integer counts, a stratum with fewer
        than 2 sample units (its variance is undefined), or a non-positive area.

    Examples
    --------
    Olofsson et al. (2014), Table 8 (pixels of 0.09 ha): deforestation is
    21,158 ha ± 6,158 (95%), though the map shows 18,000 ha.

    >>> counts = [[66, 0, 5, 4], [0, 55, 8, 12], [1, 0, 153, 11], [2, 1, 9, 313]]
    >>> est = stratified_area_estimate(counts, [18000, 13500, 288000, 580500])
    >>> round(float(est.area[0])), round(float(1.96 * est.area_se[0]))
    (21158, 6158)
    """
    n = np.asarray(counts, dtype=float)
    a = np.asarray(mapped_area, dtype=float)
    if n.ndim != 2 or n.shape[0] < n.shape[1]:
        raise ValueError(
            f"counts must have one row per stratum and one column per class, at least as many "
            f"strata as classes, got shape {n.shape}"
        )
    h, k = n.shape
    if a.shape != (h,):
        raise ValueError(f"mapped_area must have {h} values (one per stratum), got {a.shape}")
    names = tuple(str(c) for c in (class_names if class_names is not None else range(k)))
    if len(names) != k:
        raise ValueError(f"class_names must have {k} names, got {len(names)}")
    if np.any(n < 0) or np.any(n != np.round(n)) or not np.all(np.isfinite(n)):
        raise ValueError("counts must be non-negative integers")
    if np.any(a <= 0) or not np.all(np.isfinite(a)):
        raise ValueError("mapped areas must be positive")
    n_h = n.sum(axis=1)
    few = [names[i] if h == k else str(i) for i in np.flatnonzero(n_h < 2)]
    if few:
        raise ValueError(
            f"{'map class' if h == k else 'stratum'} {', '.join(few)} has fewer than 2 sample "
            "units; its variance is undefined"
        )
    if stratum_map_class is None and h == k:
        stratum_map_class = np.arange(k)
    total = a.sum()
    w = a / total
    p = w[:, None] * n / n_h[:, None]  # estimated area proportions p_hj
    ref = np.broadcast_to(np.arange(k)[None, :], (h, k))
    ones = np.ones((h, k))
    props = [_ratio(n, a, (ref == j).astype(float), ones) for j in range(k)]
    p_j = np.array([r for r, _ in props])
    area, area_se = total * p_j, total * np.array([se for _, se in props])
    nan = np.full(k, np.nan)
    users, users_se, producers, producers_se = nan, nan, nan, nan
    overall = overall_se = float("nan")
    if stratum_map_class is not None:
        m = np.asarray(stratum_map_class)[:, None] * np.ones((1, k), dtype=int)
        hits = [((m == c) & (ref == c)).astype(float) for c in range(k)]
        ua = [_ratio(n, a, hits[c], (m == c).astype(float)) for c in range(k)]
        pa = [_ratio(n, a, hits[c], (ref == c).astype(float)) for c in range(k)]
        users, users_se = (np.array(v) for v in zip(*ua, strict=True))
        producers, producers_se = (np.array(v) for v in zip(*pa, strict=True))
        overall, overall_se = (float(v) for v in _ratio(n, a, (m == ref).astype(float), ones))
    return AreaEstimate(
        classes=names,
        area=area,
        area_se=area_se,
        users_accuracy=users,
        users_accuracy_se=users_se,
        producers_accuracy=producers,
        producers_accuracy_se=producers_se,
        overall_accuracy=overall,
        overall_accuracy_se=overall_se,
        proportions=p,
        mapped_area=a,
        confidence=confidence,
        strata=tuple(
            str(x)
            for x in (stratum_names if stratum_names is not None else names if h == k else range(h))
        ),
        counts=n,
    )


#: Reference classes of an annual forest-loss assessment, in column order.
LOSS_CLASSES = ("loss", "forest")


def annual_loss_estimates(
    years, strata, mapped_area, counts, confidence: float = 0.95
) -> list[AreaEstimate]:
    """Loss area of each year from its map and accuracy sample.

    Parameters
    ----------
    years : sequence of int
    strata : list of sequences of str
        Stratum names of each year's map; the stratum named ``"loss"`` is map class
        loss, every other stratum (e.g. ``buffer``, ``stable_forest``) map class forest.
    mapped_area : list of arrays
        Mapped area (ha) of each stratum, per year; they add up to the forest at the
        start of the year.
    counts : list of arrays, shape (n_strata, 2)
        Sample counts per stratum and reference class (``loss``, ``forest``), per year.

    Returns
    -------
    list of AreaEstimate
        One per year, classes ``("loss", "forest")``.
    """
    out = []
    for year, names, area, n in zip(years, strata, mapped_area, counts, strict=True):
        try:
            out.append(loss_area_estimate(names, area, n, confidence))
        except ValueError as err:
            raise ValueError(f"year {year}: {err}") from err
    return out


def loss_area_estimate(strata, mapped_area, counts, confidence: float = 0.95) -> AreaEstimate:
    """Loss area of one loss map (a year's, or a monitoring period's) from its accuracy sample.

    ``strata`` names the map's strata: the one named ``"loss"`` is map class loss,
    every other (``buffer``, ``stable_forest``, ...) map class forest; ``counts`` has one
    row per stratum and the columns :data:`LOSS_CLASSES`. The estimator is
    :func:`stratified_area_estimate` (Olofsson et al. 2014; Stehman 2014).

    Raises
    ------
    ValueError
        No stratum named ``"loss"``, or what :func:`stratified_area_estimate` refuses.
    """
    names = list(strata)
    if "loss" not in names:
        raise ValueError("no stratum named 'loss' (the mapped loss)")
    map_class = [0 if s == "loss" else 1 for s in names]
    n = np.asarray(counts, dtype=float)
    area = np.asarray(mapped_area)
    if len(names) == 2:  # strata are the map classes: order rows as the classes
        order = [names.index("loss"), 1 - names.index("loss")]
        n, area, map_class = n[order], area[order], [0, 1]
        names = [names[i] for i in order]
    return stratified_area_estimate(n, area, LOSS_CLASSES, confidence, map_class, names)


# --------------------------------------------------------------------------- pooled over years

#: Grid of the beta-binomial hyperparameters (:func:`pooled_proportions`): the log odds of
#: the mean, ``u = log(alpha / beta)``, around the pooled one, and ``v = log(alpha + beta)``.
POOLING_GRID = {"u_halfwidth": 8.0, "v_range": (-8.0, 20.0), "points": (241, 281)}


def pooled_proportions(loss_counts, sample_sizes) -> tuple[np.ndarray, np.ndarray] | None:
    """A stratum's loss proportion of each year, partially pooled across years.

    The hierarchical beta-binomial model of Gelman et al. (2013, *Bayesian Data
    Analysis*, 3rd ed., §5.3, and the prior ``p(alpha, beta) ∝ (alpha +
    beta)^(-5/2)`` of the rat-tumour example): year ``y``'s sample of ``n_y`` points
    has ``x_y`` reference-loss points, ``x_y ~ Binomial(n_y, p_y)``, ``p_y ~ Beta(alpha,
    beta)``. The marginal posterior of ``(log(alpha/beta), log(alpha + beta))`` is
    evaluated on a grid (:data:`POOLING_GRID`), and the ``p_y``'s posterior means and
    covariances are averaged over it: given ``alpha, beta`` they are independent,
    ``p_y ~ Beta(alpha + x_y, beta + n_y - x_y)``, so ``Cov(p_y, p_z) = Cov(E[p_y | .],
    E[p_z | .])`` for ``y != z`` (law of total covariance): the years share the
    hyperparameters, and their errors are correlated. A year whose sample has no loss
    point is thus read as a small sample of a small proportion, shrunk toward the other
    years', not as a proportion of zero known exactly.

    That posterior is proper only if some year has both loss and non-loss points
    (BDA §5.3: the prior's density grows without bound as ``alpha + beta -> 0``, and
    with no loss point in any year as ``alpha / beta -> 0``); without one, the data
    cannot say how the proportion varies, and None is returned.

    Parameters
    ----------
    loss_counts, sample_sizes : array, shape (years,)

    Returns
    -------
    (mean, covariance): shapes (years,) and (years, years), or None.
    """
    from scipy.special import gammaln

    x = np.asarray(loss_counts, dtype=float)
    n = np.asarray(sample_sizes, dtype=float)
    if not np.any((x > 0) & (x < n)):
        return None
    g = POOLING_GRID
    centre = np.log((x.sum() + 0.5) / (n.sum() - x.sum() + 0.5))
    u = np.linspace(centre - g["u_halfwidth"], centre + g["u_halfwidth"], g["points"][0])
    v = np.linspace(*g["v_range"], g["points"][1])
    uu, vv = np.meshgrid(u, v, indexing="ij")
    total = np.exp(vv)[..., None]
    alpha = total * (1.0 / (1.0 + np.exp(-uu)))[..., None]
    beta = total - alpha
    # log p(u, v | x): Jacobian alpha beta, prior (alpha + beta)^(-5/2), and per year
    # log B(alpha + x, beta + n - x) - log B(alpha, beta)
    a0, b0, t0 = alpha[..., 0], beta[..., 0], total[..., 0]
    log_post = np.log(a0) + np.log(b0) - 2.5 * np.log(t0)
    log_post = log_post + np.sum(
        gammaln(alpha + x)
        + gammaln(beta + n - x)
        - gammaln(total + n)
        - gammaln(alpha)
        - gammaln(beta)
        + gammaln(total),
        axis=-1,
    )
    w = np.exp(log_post - log_post.max()).ravel()
    w /= w.sum()
    mean_given = ((alpha + x) / (total + n)).reshape(w.size, -1)
    var_given = mean_given * (1.0 - mean_given) / (total.reshape(w.size, 1) + n + 1.0)
    # einsum, not BLAS: a threaded matrix product's last bits depend on the thread count,
    # and a run must give the same numbers in a shell and on a one-thread Dask worker
    mean = np.einsum("g,gi->i", w, mean_given)
    centred = mean_given - mean
    cov = np.einsum("g,gi,gj->ij", w, centred, centred)
    cov[np.diag_indices_from(cov)] += np.einsum("g,gi->i", w, var_given)
    return mean, cov


def pooled_loss_estimates(strata, mapped_area, counts) -> dict[str, np.ndarray]:
    """Each year's loss area with every stratum's proportion pooled across years.

    The loss area of year ``y`` is ``sum_h A_yh p_yh`` over its sampling strata
    (Stehman 2014, Eq. 25 with the loss indicator: the stratified estimator's
    target), with ``p_yh`` the reference-loss proportion of stratum ``h`` in year
    ``y`` from :func:`pooled_proportions` over the years, and covariance between years
    ``sum_h A_yh A_zh Cov(p_yh, p_zh)`` (the strata's samples are independent; a
    stratum's years share its hyperparameters). A stratum whose samples have
    no mixed year (in Los Amigos the stable forest: no loss point in any year) keeps
    the design-based proportion ``x_y / n_y`` and variance ``p (1 - p) / (n_y - 1)``
    (Olofsson et al. 2014, Eq. 10), and is listed in ``design_strata``.

    Parameters
    ----------
    strata, mapped_area, counts
        As for :func:`annual_loss_estimates`: per year, the strata's names, mapped
        areas (ha) and sample counts (columns :data:`LOSS_CLASSES`).

    Returns
    -------
    dict
        ``loss_ha``, ``loss_se_ha`` (arrays over years), ``loss_cov_ha2`` (years x
        years) and ``design_strata`` (names).
    """
    names = sorted({s for year in strata for s in year})
    loss = np.zeros(len(strata))
    cov = np.zeros((len(strata), len(strata)))
    design = []
    for name in names:
        rows = [(y, list(s).index(name)) for y, s in enumerate(strata) if name in s]
        years = [y for y, _ in rows]
        x = np.array([counts[y][i, 0] for y, i in rows], dtype=float)
        n = np.array([counts[y][i].sum() for y, i in rows], dtype=float)
        area = np.array([mapped_area[y][i] for y, i in rows], dtype=float)
        pooled = pooled_proportions(x, n)
        if pooled is None:
            design.append(name)
            p = x / n
            p_cov = np.diag(p * (1.0 - p) / (n - 1.0))
        else:
            p, p_cov = pooled
        loss[years] += area * p
        cov[np.ix_(years, years)] += np.outer(area, area) * p_cov
    se = np.sqrt(np.diag(cov))
    return {"loss_ha": loss, "loss_se_ha": se, "loss_cov_ha2": cov, "design_strata": design}
